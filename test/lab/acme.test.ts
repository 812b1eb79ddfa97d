import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LabAcme, startAcme } from './acme';
import { createLab, envPrefix, type Lab } from './lab';

/** The lab's ACME CA and DNS (test/lab/acme.ts): what the credential service's ACME tests build on. */

const VALIDITY = 3600;

/** Serves the files in its directory at /.well-known/acme-challenge/<token> on port 80. */
const RESPONDER = `
const { createServer } = require('node:http');
const { readFileSync } = require('node:fs');
const dir = process.argv[2];
createServer((req, res) => {
  const token = /^\\/\\.well-known\\/acme-challenge\\/([\\w-]+)$/.exec(req.url ?? '')?.[1];
  let body;
  try { body = token && readFileSync(dir + '/' + token); } catch {}
  res.writeHead(body ? 200 : 404).end(body);
}).listen(80, () => console.log('listening'));
`;

/**
 * acme-client's whole flow for one name, the challenge answered through RESPONDER's directory;
 * prints {cert} or {error}. Fast polling: acme-client waits 5 s before its first re-poll.
 */
const CLIENT = `
const acme = require(process.env.ACME_CLIENT);
const https = require('node:https');
const { writeFileSync, rmSync } = require('node:fs');
const { DIRECTORY, CA, NAME, WEBROOT, EAB } = process.env;
acme.axios.defaults.httpsAgent = new https.Agent({ ca: CA });
(async () => {
  const client = new acme.Client({
    directoryUrl: DIRECTORY,
    accountKey: await acme.crypto.createPrivateEcdsaKey(),
    backoffMin: 50,
    backoffMax: 500,
    ...(EAB ? { externalAccountBinding: JSON.parse(EAB) } : {}),
  });
  const [, csr] = await acme.crypto.createCsr({ altNames: [NAME] }, await acme.crypto.createPrivateEcdsaKey());
  const cert = await client.auto({
    csr,
    termsOfServiceAgreed: true,
    challengePriority: ['http-01'],
    // Pebble's verdict, not acme-client's own pre-check (which retries for a minute).
    skipChallengeVerification: true,
    challengeCreateFn: async (_a, ch, keyAuthorization) => writeFileSync(WEBROOT + '/' + ch.token, keyAuthorization),
    challengeRemoveFn: async (_a, ch) => rmSync(WEBROOT + '/' + ch.token, { force: true }),
  });
  console.log(JSON.stringify({ cert }));
})().catch((e) => console.log(JSON.stringify({ error: String(e?.message ?? e) })));
`;

const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
const netnsDirs = (prefix: string) => {
  try {
    return readdirSync('/etc/netns').filter((d) => d.startsWith(`${prefix}-`));
  } catch {
    return [];
  }
};
const pems = (chain: string) =>
  chain.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];

describe('the lab’s ACME CA and DNS', () => {
  const prefix = `${envPrefix()}ac`;
  const stale = `/etc/netns/${prefix}-gone`;
  let lab: Lab;
  let acme: LabAcme;
  let webroot: string;
  let client: string;

  const resolve = (ns: string, name: string) =>
    lab.exec(ns, ['getent', 'hosts', name], { timeoutMs: 10_000 });
  const order = async (name: string, env: Record<string, string> = {}, via = acme) => {
    const r = await lab.exec(lab.relay.ns, [process.execPath, client], {
      env: {
        ACME_CLIENT: require.resolve('acme-client'),
        DIRECTORY: via.directoryUrl,
        CA: via.listenerCaPem,
        NAME: name,
        WEBROOT: webroot,
        ...env,
      },
      timeoutMs: 30_000,
    });
    const out = JSON.parse(r.stdout.trim().split('\n').pop() || '{}') as {
      cert?: string;
      error?: string;
    };
    if (!out.cert && !out.error) throw new Error(`the client printed nothing:\n${r.stderr}`);
    return out;
  };

  beforeAll(async () => {
    // What a killed run leaves: createLab's stale cleanup must take it.
    mkdirSync(stale, { recursive: true });
    writeFileSync(join(stale, 'resolv.conf'), 'nameserver 11.0.0.53\n');
    lab = await createLab('ac');
    acme = await startAcme(lab, { validitySeconds: VALIDITY });
    webroot = join(lab.dir, 'webroot');
    mkdirSync(webroot);
    writeFileSync(join(lab.dir, 'responder.cjs'), RESPONDER);
    client = join(lab.dir, 'client.cjs');
    writeFileSync(client, CLIENT);
    const responder = lab.spawn(lab.relay.ns, [
      process.execPath,
      join(lab.dir, 'responder.cjs'),
      webroot,
    ]);
    await new Promise<void>((res, rej) => {
      responder.stdout?.on('data', () => res());
      responder.on('exit', (code) => rej(new Error(`the HTTP-01 responder exited (${code})`)));
    });
  });
  afterAll(async () => lab?.destroy());

  it('clears a killed run’s /etc/netns leftovers at createLab', () => {
    expect(existsSync(stale)).toBe(false);
  });

  it('lab hosts resolve the set names through the lab DNS', async () => {
    for (const ns of [lab.siteA.ns, lab.siteB.ns, lab.backend.ns, lab.relay.ns, lab.cloud.ns]) {
      expect((await resolve(ns, acme.names.relay)).stdout.split(/\s+/)[0], ns).toBe(lab.relay.ip);
      expect((await resolve(ns, acme.names.cloud)).stdout.split(/\s+/)[0], ns).toBe(
        lab.cloud.publicIp,
      );
    }
    expect(readFileSync(`/etc/netns/${lab.siteA.ns}/resolv.conf`, 'utf8')).toContain(
      `nameserver ${acme.dnsServers[0]}\nnameserver ${acme.dnsServers[1]}\n`,
    );
    // No default answer: a name nobody set does not resolve, and fails fast.
    const started = Date.now();
    const nobody = await resolve(lab.siteA.ns, 'nobody.lab.test');
    expect(nobody.code, nobody.stdout).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a name with an AAAA record resolves to it over IPv6 on the IPv6-only phone, and to each family on the dual-stack home', async () => {
    const name = 'both.lab.test';
    await acme.setAddress(name, lab.relay.ip);
    await acme.setAddress6(name, lab.relay.ip6);
    const onPhone = await lab.exec(lab.phone.ns, ['getent', 'ahostsv6', name], {
      timeoutMs: 5000,
    });
    expect(onPhone.code, onPhone.stderr).toBe(0);
    expect(onPhone.stdout.split(/\s+/)[0]).toBe(lab.relay.ip6);
    for (const [family, address] of [
      ['ahostsv4', lab.relay.ip],
      ['ahostsv6', lab.relay.ip6],
    ] as const) {
      const onHome = await lab.exec(lab.home.ns, ['getent', family, name], { timeoutMs: 5000 });
      expect(onHome.stdout.split(/\s+/)[0], family).toBe(address);
    }
    // The phone asked the DNS server at its IPv6 address: it has no route to the IPv4 one.
    expect(
      (await lab.exec(lab.phone.ns, ['ip', 'route', 'get', acme.dnsServers[0]])).code,
    ).not.toBe(0);
  });

  it('issues by HTTP-01 on the relay host a certificate for its name that chains to rootPem and lasts validitySeconds', async () => {
    const { cert, error } = await order(acme.names.relay);
    expect(error, acme.log()).toBeUndefined();
    const [leaf, ...intermediates] = pems(cert as string);
    const root = await acme.rootPem();
    const files = { leaf: join(lab.dir, 'leaf.pem'), chain: join(lab.dir, 'chain.pem') };
    writeFileSync(files.leaf, leaf as string);
    writeFileSync(files.chain, intermediates.join('\n'));
    writeFileSync(join(lab.dir, 'root.pem'), root);
    // As a TLS client checks a server: the chain up to the root, the name, the purpose.
    const verified = execFileSync('openssl', [
      'verify',
      '-CAfile',
      join(lab.dir, 'root.pem'),
      '-untrusted',
      files.chain,
      '-purpose',
      'sslserver',
      '-verify_hostname',
      acme.names.relay,
      files.leaf,
    ]).toString();
    expect(verified).toContain(': OK');
    const x = new X509Certificate(leaf as string);
    const seconds = (Date.parse(x.validTo) - Date.parse(x.validFrom)) / 1000;
    expect(Math.abs(seconds - VALIDITY), `${x.validFrom} – ${x.validTo}`).toBeLessThanOrEqual(1);
    expect(x.subjectAltName).toBe(`DNS:${acme.names.relay}`);
    // Not the listener's CA: what browsers trust and what the client trusts are distinct.
    expect(new X509Certificate(root).fingerprint256).not.toBe(
      new X509Certificate(acme.listenerCaPem).fingerprint256,
    );
  });

  it('after removeAddress the name resolves nowhere and Pebble refuses to issue for it', async () => {
    await acme.removeAddress(acme.names.relay);
    try {
      const removed = await resolve(lab.siteA.ns, acme.names.relay);
      expect(removed.code, removed.stdout).not.toBe(0);
      const { cert, error } = await order(acme.names.relay);
      expect(cert).toBeUndefined();
      expect(error).toMatch(/DNS|resolv|record/i);
    } finally {
      await acme.setAddress(acme.names.relay, lab.relay.ip);
    }
    expect((await resolve(lab.siteA.ns, acme.names.relay)).stdout.split(/\s+/)[0]).toBe(
      lab.relay.ip,
    );
  });

  it('with requireExternalAccount, an account needs the binding Pebble was given', async () => {
    await acme.stop();
    acme = await startAcme(lab, { requireExternalAccount: true });
    const binding = acme.externalAccount;
    expect(binding).toBeDefined();
    expect((await order(acme.names.relay)).error).toMatch(/externalAccountBinding/);
    const { cert, error } = await order(acme.names.relay, { EAB: JSON.stringify(binding) });
    expect(error, acme.log()).toBeUndefined();
    expect(pems(cert as string).length).toBeGreaterThanOrEqual(2);
  });

  it('destroy leaves no /etc/netns directory and no Pebble or DNS process behind', async () => {
    expect(netnsDirs(lab.prefix).length).toBeGreaterThan(0);
    const pids = execFileSync('ip', ['netns', 'pids', lab.ca.ns], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
    expect(pids.map((p) => readlinkSync(`/proc/${p}/exe`)).sort()).toEqual([
      '/usr/bin/pebble',
      '/usr/bin/pebble-challtestsrv',
    ]);
    await lab.destroy();
    expect(netnsDirs(lab.prefix)).toEqual([]);
    expect(existsSync(lab.dir)).toBe(false);
    expect(pids.filter(alive)).toEqual([]);
  });
});
