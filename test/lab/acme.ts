import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectOutput } from '../helpers/child-output';
import type { Lab } from './lab';
import { makeTestPki } from './pki';

/**
 * A real ACME CA and DNS in the lab, on the lab's CA host (lab.ca): Debian's Pebble 2.4 at
 * lab.ca.ip and pebble-challtestsrv as the DNS server at lab.ca.dnsIp and lab.ca.dnsIp6. Pebble resolves the
 * names it validates through that DNS server and validates HTTP-01 on port 80 of the name's
 * address, as Let's Encrypt does; while it runs, every lab host resolves names through it too
 * (lab.setResolver). Both are lab.spawn children, so lab.destroy ends them.
 */

export interface LabAcmeOptions {
  /** How long issued certificates are valid, in seconds (default 7 days). */
  validitySeconds?: number;
  /** Pebble refuses accounts without an external account binding (`externalAccount`). */
  requireExternalAccount?: boolean;
}

export interface LabAcme {
  /** Pebble's directory, by IP: containers in the lab have no lab DNS. */
  directoryUrl: string;
  /** The test CA of Pebble's own HTTPS listener (IP SAN lab.ca.ip): a client's ACME_CA_FILE. */
  listenerCaPem: string;
  /** Pebble's issuing root (made anew at each start): what a browser must trust. */
  rootPem(): Promise<string>;
  /** Sets the name's A record to exactly `ip`. */
  setAddress(name: string, ip: string): Promise<void>;
  /** Sets the name's AAAA record to exactly `ip6` (names have none unless set). */
  setAddress6(name: string, ip6: string): Promise<void>;
  /** Drops the name's A records: it then resolves to nothing (there is no default answer). */
  removeAddress(name: string): Promise<void>;
  /** Set at start: `relay` → lab.relay.ip, `cloud` → lab.cloud.publicIp. */
  names: { relay: string; cloud: string };
  /** The DNS server's addresses, IPv4 then IPv6 (port 53, UDP and TCP). */
  dnsServers: [string, string];
  /** With requireExternalAccount: the binding Pebble accepts (key base64url, as ACME has it). */
  externalAccount?: { kid: string; hmacKey: string };
  /** What Pebble and the DNS server printed so far (Pebble logs each validation's outcome). */
  log(): string;
  stop(): Promise<void>;
}

const ACME_PORT = 14000;
const MANAGEMENT_PORT = 15000;
const DNS_MANAGEMENT_PORT = 8055;
const WEEK = 7 * 24 * 3600;

export async function startAcme(lab: Lab, opts: LabAcmeOptions = {}): Promise<LabAcme> {
  for (const tool of ['/usr/bin/pebble', '/usr/bin/pebble-challtestsrv'])
    if (!existsSync(tool))
      throw new Error(`no ${tool}: run test/lab/ensure-lab.sh (Debian package pebble)`);
  const { ip, dnsIp, dnsIp6, ns } = lab.ca;
  const dir = mkdtempSync(join(lab.dir, 'acme-'));
  const pki = makeTestPki(join(dir, 'pki'), { ips: [ip] });
  const externalAccount = opts.requireExternalAccount
    ? { kid: 'lab-kid', hmacKey: randomBytes(48).toString('base64url') }
    : undefined;
  const config = join(dir, 'pebble.json');
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `${ip}:${ACME_PORT}`,
        managementListenAddress: `${ip}:${MANAGEMENT_PORT}`,
        certificate: pki.certFile,
        privateKey: pki.keyFile,
        httpPort: 80,
        tlsPort: 443,
        ocspResponderURL: '',
        externalAccountBindingRequired: externalAccount !== undefined,
        ...(externalAccount
          ? { externalAccountMACKeys: { [externalAccount.kid]: externalAccount.hmacKey } }
          : {}),
        certificateValidityPeriod: opts.validitySeconds ?? WEEK,
      },
    }),
  );

  // Only the DNS server: Pebble itself checks the challenges. No default answers, so a name
  // nobody set does not resolve (challtestsrv would otherwise answer 127.0.0.1 and ::1).
  const dns = lab.spawn(ns, [
    'pebble-challtestsrv',
    '-dns01',
    `${dnsIp}:53,[${dnsIp6}]:53`,
    '-management',
    `${dnsIp}:${DNS_MANAGEMENT_PORT}`,
    '-http01',
    '',
    '-https01',
    '',
    '-tlsalpn01',
    '',
    '-defaultIPv4',
    '',
    '-defaultIPv6',
    '',
  ]);
  const pebble = lab.spawn(ns, ['pebble', '-config', config, '-dnsserver', `${dnsIp}:53`], {
    env: {
      // Validate at once instead of after 0-15 s, never reject a good nonce (5 % by default),
      // and never reuse an authorization (50 % by default): every order proves control anew.
      PEBBLE_VA_NOSLEEP: '1',
      PEBBLE_WFE_NONCEREJECT: '0',
      PEBBLE_AUTHZREUSE: '0',
    },
  });
  const logs = [collectOutput(dns), collectOutput(pebble)];
  const log = () => `--- pebble-challtestsrv\n${logs[0]?.()}\n--- pebble\n${logs[1]?.()}`;
  const exited = (c: ChildProcess) =>
    new Promise<void>((res) => {
      if (c.exitCode !== null || c.signalCode !== null) res();
      else c.on('exit', () => res());
    });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    lab.setResolver(null);
    for (const c of [dns, pebble]) if (c.exitCode === null && c.signalCode === null) c.kill();
    await Promise.all([exited(dns), exited(pebble)]);
    rmSync(dir, { recursive: true, force: true });
  };

  const curl = async (args: string[]) => {
    const r = await lab.exec(ns, ['curl', '-sS', '--fail', '--max-time', '5', ...args]);
    if (r.code !== 0) throw new Error(`curl ${args.join(' ')}: ${r.stderr.trim() || r.code}`);
    return r.stdout;
  };
  const manage = (path: string, body: object) =>
    curl(['--data', JSON.stringify(body), `http://${dnsIp}:${DNS_MANAGEMENT_PORT}${path}`]);
  const removeAddress = async (name: string) => {
    await manage('/clear-a', { host: name });
  };
  // add-a appends to the name's records: clear first, so the name has exactly this address.
  const setAddress = async (name: string, address: string) => {
    await removeAddress(name);
    await manage('/add-a', { host: name, addresses: [address] });
  };
  const setAddress6 = async (name: string, address: string) => {
    await manage('/clear-aaaa', { host: name });
    await manage('/add-aaaa', { host: name, addresses: [address] });
  };

  const until = async (what: string, ready: () => Promise<boolean>) => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      for (const [name, c] of [
        ['pebble-challtestsrv', dns],
        ['pebble', pebble],
      ] as const)
        if (c.exitCode !== null || c.signalCode !== null) {
          await stop();
          throw new Error(
            `${name} exited (${c.exitCode ?? c.signalCode}) before ${what}:\n${log()}`,
          );
        }
      if (await ready().catch(() => false)) return;
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`not ${what} within 15 s:\n${log()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const names = { relay: 'turn.lab.test', cloud: 'cloud.lab.test' };
  const caFile = pki.caFile;
  await until('the DNS management interface answered', async () => {
    await setAddress(names.relay, lab.relay.ip);
    return true;
  });
  await setAddress(names.cloud, lab.cloud.publicIp);
  lab.setResolver([dnsIp, dnsIp6]);
  // Through the resolver the hosts now use: the DNS listener is up and answers as set.
  await until('the lab DNS answered', async () => {
    const r = await lab.exec(lab.peer.ns, ['getent', 'ahostsv4', names.relay], {
      timeoutMs: 5000,
    });
    return r.code === 0 && r.stdout.split(/\s+/)[0] === lab.relay.ip;
  });
  const directoryUrl = `https://${ip}:${ACME_PORT}/dir`;
  await until('Pebble answered', async () => {
    JSON.parse(await curl(['--cacert', caFile, directoryUrl]));
    return true;
  });

  return {
    directoryUrl,
    listenerCaPem: pki.caPem,
    rootPem: () => curl(['--cacert', caFile, `https://${ip}:${MANAGEMENT_PORT}/roots/0`]),
    setAddress,
    setAddress6,
    removeAddress,
    names,
    dnsServers: [dnsIp, dnsIp6],
    ...(externalAccount ? { externalAccount } : {}),
    log,
    stop,
  };
}
