import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { expect } from 'vitest';
import { RELAY_RUNTIME_DIR, RELAY_SECRETS_DIR, SECRETS_DIR } from '../../contract';
import { planDeployment, readStackConfig, valuesSource } from '../../infra';
import { turnRestCredential } from '../../service/providers/coturn';
import { publishRelaySecrets } from '../../service/relay-secrets';
import { collectOutput } from '../helpers/child-output';
import { assertReady, COTURN_ROOT, REPO, workDir, writeOwned } from '../helpers/coturn';
import { escapeRegExp } from '../helpers/regexp';
import type { Lab } from './lab';
import { makeTestPki, type TestPki } from './pki';
import type { Listener } from './udp';

/**
 * The relay in the lab: the project's own coturn/entrypoint.sh and coturn/turnserver.conf,
 * unmodified and with nothing appended, run with forky's turnserver (TURNKEY_COTURN_ROOT) in
 * the relay host's namespace as the image's user. Its environment and secret files are what
 * planDeployment gives the Coturn container for a stack config (`turnkey:*` keys below), so
 * EXTERNAL_IP, ports and TLS are exactly what `pulumi up` would set.
 */

export type RelayHost = 'relay' | 'cloud';

export interface LabCoturnOptions {
  /** Extra `turnkey:*` stack values (without the prefix), e.g. `{ externalIp: '11.0.0.20' }`. */
  stack?: Record<string, string>;
  /** Serve TURN over TLS with a certificate from a test CA for the host's public address. */
  tls?: boolean;
  /** Container environment set over the plan's (e.g. a value the stack config would refuse). */
  env?: Record<string, string>;
  /**
   * The lab host whose STUN answer means ready (default the internet's peer); a relay whose
   * publicHost is on the private network is probed from a client there.
   */
  readyFrom?: string;
  /**
   * Lines appended to the shipped turnserver.conf: only for a test of what a misconfigured
   * relay looks like, never for one that a relay works.
   */
  misconfig?: string[];
  /** The TURN secret (a fleet's relays share one); default a new one. */
  turnSecret?: string;
}

export interface LabCoturn {
  host: RelayHost;
  ns: string;
  /** The address clients use: publicHost when an address, else the host's public IPv4 one. */
  publicIp: string;
  /** The host's public IPv6 address. */
  publicIp6: string;
  turnPort: number;
  tlsPort: number;
  /** The coturn container's environment as planned (secret paths rewritten into the chroot). */
  env: Record<string, string>;
  /** The test CA (when `tls`), for clients that verify the relay. */
  pki?: TestPki;
  /** The CA file's path inside the chroot (uclient's -E). */
  caFile?: string;
  /** Credentials exactly as the credential service mints them. */
  credential(user: string): { username: string; credential: string };
  process: ChildProcess;
  log(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** The cloud host's turnkey:externalIp: both families are behind its 1:1 NAT. */
export const cloudExternalIp = (lab: Lab) =>
  `${lab.cloud.publicIp}/${lab.cloud.ip},${lab.cloud.publicIp6}/${lab.cloud.ip6}`;

/** Stack values as an operator would set them for this host. */
function stackValues(lab: Lab, host: RelayHost, opts: LabCoturnOptions): Record<string, string> {
  const publicIp = host === 'relay' ? lab.relay.ip : lab.cloud.publicIp;
  return {
    provider: 'coturn',
    publicHost: publicIp,
    ...(host === 'cloud' ? { externalIp: cloudExternalIp(lab) } : {}),
    ...opts.stack,
  };
}

export async function startLabCoturn(
  lab: Lab,
  host: RelayHost,
  opts: LabCoturnOptions = {},
): Promise<LabCoturn> {
  assertReady();
  const values = stackValues(lab, host, opts);
  const secrets: Record<string, string> = {
    turnSecret: opts.turnSecret ?? randomBytes(32).toString('hex'),
  };
  const [dir, inside] = workDir();
  let pki: TestPki | undefined;
  if (opts.tls) {
    const publicIps =
      host === 'relay' ? [lab.relay.ip, lab.relay.ip6] : [lab.cloud.publicIp, lab.cloud.publicIp6];
    pki = makeTestPki(join(dir, 'pki'), {
      ips: [...new Set([values.publicHost as string, ...publicIps])].filter((a) => isIP(a)),
      ...(isIP(values.publicHost as string) ? {} : { names: [values.publicHost as string] }),
    });
    secrets.tlsCert = pki.certPem;
    secrets.tlsKey = pki.keyPem;
  }
  const config = readStackConfig(valuesSource(values, Object.keys(secrets)));
  if (opts.tls) config.tls = true;
  const plan = planDeployment(config, { stack: 'lab', projectRoot: REPO }).containers.find(
    (c) => c.role === 'coturn',
  );
  if (!plan) throw new Error('the plan has no Coturn container');

  copyFileSync(join(REPO, 'coturn/entrypoint.sh'), join(dir, 'entrypoint.sh'));
  copyFileSync(join(REPO, 'coturn/turnserver.conf'), join(dir, 'turnserver.conf'));
  if (opts.misconfig)
    appendFileSync(join(dir, 'turnserver.conf'), `${opts.misconfig.join('\n')}\n`);
  chmodSync(join(dir, 'turnserver.conf'), 0o644);
  // The container's paths, moved into this run's directory inside the chroot.
  const moved = (path: string) =>
    path.startsWith(`${SECRETS_DIR}/`)
      ? `${inside}/secrets/${path.slice(SECRETS_DIR.length + 1)}`
      : path === RELAY_RUNTIME_DIR
        ? `${inside}/run`
        : path === RELAY_SECRETS_DIR || path.startsWith(`${RELAY_SECRETS_DIR}/`)
          ? `${inside}/relay-secrets${path.slice(RELAY_SECRETS_DIR.length)}`
          : path;
  mkdirSync(join(dir, 'secrets'), { mode: 0o755 });
  for (const file of plan.files) {
    const secret = secrets[file.secret];
    if (secret === undefined) throw new Error(`the lab has no value for secret ${file.secret}`);
    // Owner and mode as the plan gives them (the image's user, 0400).
    writeOwned(join(COTURN_ROOT, moved(file.path)), secret, Number.parseInt(file.mode, 8));
  }
  // The relay's files in the volume, as the credential service writes them there.
  mkdirSync(join(dir, 'relay-secrets'), { mode: 0o755 });
  publishRelaySecrets({
    dir: join(dir, 'relay-secrets'),
    turnSecret: secrets.turnSecret as string,
    previousTurnSecrets: [],
    ...(secrets.tlsCert ? { tls: { cert: secrets.tlsCert, key: secrets.tlsKey as string } } : {}),
  });
  const env: Record<string, string> = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    // The image copies the shipped config to this path's default, /etc/coturn/turnserver.conf.
    TURN_BASE_CONFIG: `${inside}/turnserver.conf`,
  };
  for (const [k, v] of Object.entries(plan.env)) env[k] = moved(v);
  Object.assign(env, opts.env);

  const ns = host === 'relay' ? lab.relay.ns : lab.cloud.ns;
  const child = lab.spawn(ns, [
    'chroot',
    '--userspec=nobody:nogroup',
    COTURN_ROOT,
    'env',
    '-i',
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    '/bin/sh',
    `${inside}/entrypoint.sh`,
  ]);
  const log = collectOutput(child);
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const running: LabCoturn = {
    host,
    ns,
    publicIp: isIP(values.publicHost as string)
      ? (values.publicHost as string)
      : host === 'relay'
        ? lab.relay.ip
        : lab.cloud.publicIp,
    publicIp6: host === 'relay' ? lab.relay.ip6 : lab.cloud.publicIp6,
    turnPort: config.turnPort,
    tlsPort: config.tlsPort,
    env,
    ...(pki ? { pki, caFile: `${inside}/pki/ca.pem` } : {}),
    credential: (user) =>
      turnRestCredential(
        secrets.turnSecret as string,
        user,
        Math.floor(Date.now() / 1000) + config.credentialTtl,
      ),
    process: child,
    log,
    exited,
    stop,
  };

  // Ready once a STUN binding from the internet gets an answer at the public address.
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      const output = log();
      throw new Error(`turnserver exited (${child.exitCode}) before answering:\n${output}`);
    }
    const probe = await lab.exec(
      opts.readyFrom ?? lab.peer.ns,
      [
        'chroot',
        COTURN_ROOT,
        'turnutils_stunclient',
        '-p',
        String(config.turnPort),
        running.publicIp,
      ],
      { timeoutMs: 3000 },
    );
    if (probe.code === 0 && /UDP reflexive addr/.test(probe.stdout + probe.stderr)) return running;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`turnserver did not answer STUN within 15 s:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A user id no other test uses. */
export const uid = (label: string) => `${label}-${randomBytes(4).toString('hex')}`;

/** turnserver's verbose line for one request outcome of one user. */
export const outcome = (user: string, what: string, result: string) =>
  new RegExp(`user <\\d+:${escapeRegExp(user)}>: incoming packet ${what} processed, ${result}`);

export interface UclientRun {
  code: number | null;
  output: string;
}

export interface UclientOptions {
  /**
   * Stop the client once the server's log matches, or the function says so (refused clients
   * retry for ~15 s).
   */
  until?: RegExp | (() => boolean);
  timeoutMs?: number;
  /** The server address to use instead of its public one (e.g. publicIp6). */
  address?: string;
}

/**
 * Runs Coturn's own client in `ns` (a lab host) against `server`'s public address with the
 * credentials of `user`; `args` are uclient's flags and options (e.g. `-y`, `-t`, `-S`).
 */
export function runLabUclient(
  lab: Lab,
  ns: string,
  server: LabCoturn,
  user: string,
  args: string[],
  opts: UclientOptions = {},
): Promise<UclientRun> {
  const cred = server.credential(user);
  const tls = args.includes('-S');
  const child = lab.spawn(ns, [
    'chroot',
    COTURN_ROOT,
    'turnutils_uclient',
    '-p',
    String(tls ? server.tlsPort : server.turnPort),
    '-u',
    cred.username,
    '-w',
    cred.credential,
    ...args,
    opts.address ?? server.publicIp,
  ]);
  const output = collectOutput(child);
  const { until } = opts;
  const done = () =>
    until === undefined ? false : typeof until === 'function' ? until() : until.test(server.log());
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      if (done()) child.kill('SIGKILL');
    }, 50);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('exit', async (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      // The client can see the server's answer before the server has logged it.
      for (let i = 0; i < 40 && until && !done(); i++) await new Promise((r) => setTimeout(r, 50));
      resolve({ code, output: output() });
    });
  });
}

export type UclientTransport = 'UDP' | 'TCP' | 'TLS';

/** uclient's flags for a transport to `server`. */
export const transportFlags = (server: LabCoturn, transport: UclientTransport): string[] =>
  transport === 'UDP'
    ? []
    : transport === 'TCP'
      ? ['-t']
      : ['-t', '-S', '-E', server.caFile as string];

/**
 * uclient client-to-client (`-y`: two allocations of one client relay `messages` to each
 * other) from each of `sites` at once, and every message relayed both ways. `flags` add to the
 * transport's (e.g. `-x` for IPv6 relayed addresses); `address` is the server's to use (a
 * site's own `address` first). Resolves with each run's uclient output.
 */
export async function expectClientToClient(
  lab: Lab,
  server: LabCoturn,
  sites: { label: string; ns: string; address?: string }[],
  transport: UclientTransport,
  opts: { flags?: string[]; address?: string; messages?: number; clients?: number } = {},
): Promise<{ label: string; user: string; output: string }[]> {
  const messages = opts.messages ?? 5;
  const clients = opts.clients ?? 1;
  const runs = await Promise.all(
    sites.map(async ({ label, ns, address }) => {
      const user = uid(label);
      const r = await runLabUclient(
        lab,
        ns,
        server,
        user,
        [
          '-y',
          ...transportFlags(server, transport),
          ...(opts.flags ?? []),
          '-n',
          String(messages),
          // uclient pairs its sessions client-to-client: -m 1 is one pair, -m N is N/2.
          '-m',
          String(clients === 1 ? 1 : 2 * clients),
          '-c',
        ],
        {
          timeoutMs: 40_000,
          ...((address ?? opts.address) ? { address: address ?? opts.address } : {}),
        },
      );
      return { label, user, ...r };
    }),
  );
  for (const r of runs) {
    const context = `${r.label}:\n${r.output}\n--- server ---\n${server.log()}`;
    expect(r.code, context).toBe(0);
    expect(server.log()).not.toMatch(outcome(r.user, '\\w+', 'error'));
    if (transport !== 'TLS') {
      expect(r.output, context).toMatch(
        new RegExp(
          `tot_send_msgs=${2 * clients * messages}, tot_recv_msgs=${2 * clients * messages}\\b`,
        ),
      );
      continue;
    }
    // uclient's TLS reader now and then misses a message the server did send, so over TLS
    // the proof is turnserver's own accounting, logged when each allocation's connection
    // closes: both allocations of the pair got every message from the other and sent it on.
    expect(r.output, context).toMatch(
      new RegExp(`tot_send_msgs=${2 * messages}, tot_recv_msgs=[1-9]`),
    );
    const usage = new RegExp(
      `peer usage: realm=<[^>]*>, username=<\\d+:${escapeRegExp(r.user)}>, rp=(\\d+), rb=\\d+, sp=(\\d+),`,
      'g',
    );
    // (uclient opens one more connection that relays nothing.)
    const counts = () =>
      [...server.log().matchAll(usage)]
        .map((m) => [Number(m[1]), Number(m[2])])
        .filter(([rp, sp]) => rp || sp);
    await expect.poll(() => counts().length, { timeout: 5000 }).toBe(2);
    expect(counts(), context).toEqual([
      [messages, messages],
      [messages, messages],
    ]);
  }
  return runs.map(({ label, user, output }) => ({ label, user, output }));
}

/**
 * A client in `ns` asks `server` to relay to `peer` (uclient `-e`, port `port`): the relay
 * must answer 403 Forbidden IP, after allocating, and no datagram may reach any of
 * `listeners` (each case judged alone, should an earlier one leak). `flags` add to uclient's
 * (e.g. `-x` for an IPv6 allocation); `address` is the server's to use.
 */
export async function expectPeerRefused(
  lab: Lab,
  server: LabCoturn,
  ns: string,
  peer: string,
  port: number,
  listeners: Listener[],
  opts: { flags?: string[]; address?: string } = {},
): Promise<void> {
  const user = uid('peer');
  const before = listeners.map((l) => l.received().length);
  const refused = outcome(user, '(CREATE_PERMISSION|CHANNEL_BIND)', 'error 403: Forbidden IP');
  const r = await runLabUclient(
    lab,
    ns,
    server,
    user,
    [...(opts.flags ?? []), '-e', peer, '-r', String(port), '-n', '3', '-c'],
    { until: refused, timeoutMs: 20_000, ...(opts.address ? { address: opts.address } : {}) },
  );
  const context = `${r.output}\n--- server ---\n${server.log()}`;
  expect(server.log(), context).toMatch(refused);
  expect(server.log(), context).toMatch(outcome(user, 'ALLOCATE', 'success'));
  expect(server.log()).not.toMatch(outcome(user, '(CREATE_PERMISSION|CHANNEL_BIND)', 'success'));
  await new Promise((res) => setTimeout(res, 300));
  expect(listeners.map((l, i) => l.received().slice(before[i]))).toEqual(listeners.map(() => []));
}
