import { X509Certificate } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ACME_STATE_FILES, SERVICE_UID } from '../../contract';
import { type ServiceProcess, serviceBundle, spawnService } from '../helpers/process';
import { type LabAcme, startAcme } from './acme';
import { createLab, type Lab } from './lab';

/**
 * The credential service's own ACME client against the lab's CA (Pebble), run as the image
 * runs it (the bundle, started as root, ACME_HTTP_PORT 80) on a lab host, with the CA
 * validating over the lab network: what it obtains, keeps and reuses, and how it names each
 * way an order fails. The full deployment (both containers, a call over turns:, a renewal) is
 * acme-deployment.test.ts.
 */

let lab: Lab;
let acme: LabAcme;
let dir: string;
let caFile: string;
let running: ServiceProcess | undefined;
let n = 0;

beforeAll(async () => {
  lab = await createLab('as');
  acme = await startAcme(lab);
  dir = mkdtempSync(join(tmpdir(), 'turnkey-acme-service-'));
  chmodSync(dir, 0o755);
  caFile = join(dir, 'acme-ca.pem');
  writeFileSync(caFile, acme.listenerCaPem, { mode: 0o644 });
}, 60_000);

afterEach(async () => {
  running?.child.kill('SIGKILL');
  await running?.exited;
  running = undefined;
});

afterAll(async () => {
  await lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A state directory as the image makes it: the service's user's, 0700. */
function stateDir(): string {
  const d = join(dir, `state-${n++}`);
  mkdirSync(d, { mode: 0o700 });
  chownSync(d, SERVICE_UID, SERVICE_UID);
  return d;
}

/** The service with ACME for `domain` on host `ns`, not waiting for it to listen. */
async function serviceOn(ns: string, domain: string, state: string, port = 8443) {
  running = await spawnService(
    {
      TURN_PROVIDER: 'stun',
      HOST: '0.0.0.0',
      ACME_EMAIL: 'ops@lab.test',
      ACME_DIRECTORY_URL: acme.directoryUrl,
      ACME_DOMAINS: domain,
      ACME_STATE_DIR: state,
      ACME_CA_FILE: caFile,
    },
    port,
    {
      script: serviceBundle(),
      wait: false,
      spawn: ([node, ...args], env) => lab.spawn(ns, [node as string, ...args], { env }),
    },
  );
  return running;
}

/** The service's first JSON log line matching `test`, waiting up to `ms`. */
async function logLine(svc: ServiceProcess, test: RegExp, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const line = svc
      .output()
      .split('\n')
      .find((l) => test.test(l));
    if (line)
      return JSON.parse(line) as {
        msg: string;
        kind?: string;
        nextAttemptAt?: string;
        time: string;
      };
    if (Date.now() > deadline || svc.child.exitCode !== null)
      throw new Error(`no log line matching ${test} within ${ms} ms:\n${svc.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The certificate a TLS handshake at ip:port presents, from the backend host. */
async function servedAt(ip: string, port: number, name: string): Promise<X509Certificate> {
  const r = await lab.exec(
    lab.backend.ns,
    [
      'sh',
      '-c',
      `openssl s_client -connect ${ip}:${port} -servername ${name} </dev/null 2>/dev/null | openssl x509`,
    ],
    { timeoutMs: 10_000 },
  );
  return new X509Certificate(r.stdout);
}

const uidOf = (pid: number) =>
  /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];

describe('the first certificate', () => {
  it('is obtained behind 1:1 NAT, served on HTTPS, kept 0600 by the service’s user, and reused after a restart', async () => {
    const state = stateDir();
    const svc = await serviceOn(lab.cloud.ns, acme.names.cloud, state);
    const issued = await logLine(svc, /ACME: certificate issued for cloud\.lab\.test/);
    await logLine(svc, /listening on https:/);

    // The CA validated port 80 of the public address, which the NAT maps to the host.
    const served = await servedAt(lab.cloud.publicIp, 8443, acme.names.cloud);
    expect(served.subjectAltName).toBe('DNS:cloud.lab.test');
    // Issued by the CA: leaf by the intermediate the chain carries, that by Pebble's root.
    const chain = readFileSync(join(state, ACME_STATE_FILES.certificate), 'utf8')
      .split(/(?<=-----END CERTIFICATE-----)\s*/)
      .filter((pem) => pem.includes('BEGIN'))
      .map((pem) => new X509Certificate(pem));
    const [leaf, intermediate] = chain as [X509Certificate, X509Certificate];
    expect(leaf.fingerprint256).toBe(served.fingerprint256);
    expect(leaf.verify(intermediate.publicKey)).toBe(true);
    expect(intermediate.verify(new X509Certificate(await acme.rootPem()).publicKey)).toBe(true);

    // Root only until port 80 is bound; every file it wrote is its user's, the keys 0600.
    expect(uidOf(svc.child.pid as number)).toBe(String(SERVICE_UID));
    for (const [file, mode] of [
      [ACME_STATE_FILES.accountKey, 0o600],
      [ACME_STATE_FILES.certificateKey, 0o600],
      [ACME_STATE_FILES.certificate, 0o644],
    ] as const) {
      const st = statSync(join(state, file));
      expect([st.uid, st.mode & 0o777], file).toEqual([SERVICE_UID, mode]);
    }
    // Port 80 answers the CA's tokens and nothing else.
    const other = await lab.exec(lab.backend.ns, [
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://${lab.cloud.publicIp}/`,
    ]);
    expect(other.stdout).toBe('404');
    expect(issued.msg).toMatch(/\(expires 20\d\d-/);

    // A replaced container: same state, no new order, the same certificate.
    svc.child.kill('SIGKILL');
    await svc.exited;
    const again = await serviceOn(lab.cloud.ns, acme.names.cloud, state);
    await logLine(again, /ACME: serving the certificate kept in ACME_STATE_DIR/);
    await logLine(again, /listening on https:/);
    expect(again.output()).not.toMatch(/certificate issued/);
    expect((await servedAt(lab.cloud.publicIp, 8443, acme.names.cloud)).fingerprint256).toBe(
      served.fingerprint256,
    );
  }, 90_000);
});

describe('an order that fails names the cause and the fix', () => {
  it('a name that resolves to another host, where another server answers', async () => {
    const other = lab.spawn(lab.peer.ns, [
      'node',
      '-e',
      "require('node:http').createServer((q,s)=>s.writeHead(404).end('nope')).listen(80)",
    ]);
    await acme.setAddress('elsewhere.lab.test', lab.peer.ip);
    try {
      const svc = await serviceOn(lab.relay.ns, 'elsewhere.lab.test', stateDir());
      const line = await logLine(svc, /"kind":"wrong_answer"/);
      expect(line.msg).toMatch(
        /^ACME: the CA reached port 80 of elsewhere\.lab\.test and another server answered \(the CA says: .*returned 404\): elsewhere\.lab\.test resolves to another host \(point it at this one\)/,
      );
      // The next attempt waits: the CA's failed-validation limit is counted per hour.
      expect(
        Date.parse(line.nextAttemptAt as string) - Date.parse(line.time),
      ).toBeGreaterThanOrEqual(59_000);
    } finally {
      other.kill('SIGKILL');
      await acme.removeAddress('elsewhere.lab.test');
    }
  }, 60_000);

  it('a name that does not resolve', async () => {
    const svc = await serviceOn(lab.relay.ns, 'nowhere.lab.test', stateDir());
    const line = await logLine(svc, /"kind":"dns"/);
    expect(line.msg).toMatch(
      /^ACME: nowhere\.lab\.test does not resolve for the CA \(the CA says: .*\): create an A \(and AAAA\) record for nowhere\.lab\.test pointing at this host's public address/,
    );
  }, 60_000);

  it('port 80 dropped by a firewall', async () => {
    const table = 'acmefw';
    const nft = await lab.exec(lab.relay.ns, ['nft', '-f', '-'], {
      input: `table inet ${table} {\n  chain input {\n    type filter hook input priority 0;\n    tcp dport 80 drop\n  }\n}\n`,
    });
    expect(nft.code, nft.stderr).toBe(0);
    try {
      const svc = await serviceOn(lab.relay.ns, acme.names.relay, stateDir());
      const line = await logLine(svc, /"kind":"port_blocked"/, 60_000);
      expect(line.msg).toMatch(
        /^ACME: the CA's connection to port 80 of turn\.lab\.test timed out, as when a firewall drops it \(the CA says: .*\): open TCP port 80 of this host to the internet/,
      );
    } finally {
      await lab.exec(lab.relay.ns, ['nft', 'delete', 'table', 'inet', table]);
    }
  }, 90_000);

  it('the CA refusing the account, in its own words', async () => {
    await acme.stop();
    acme = await startAcme(lab, { requireExternalAccount: true });
    writeFileSync(caFile, acme.listenerCaPem);
    try {
      const svc = await serviceOn(lab.relay.ns, acme.names.relay, stateDir());
      const line = await logLine(svc, /"kind":"refused"/);
      expect(line.msg).toMatch(
        /^ACME: the CA refused the account registration \(externalAccountRequired; the CA says: .*externalAccountBinding.*\)/,
      );
    } finally {
      await acme.stop();
      acme = await startAcme(lab);
      writeFileSync(caFile, acme.listenerCaPem);
    }
  }, 60_000);
});
