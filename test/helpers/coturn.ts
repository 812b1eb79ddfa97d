import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { COTURN_UID, definedEnv, type RelayEnv } from '../../contract';
import { CoturnProvider } from '../../service/providers/coturn';
import { TurnError } from '../../service/turn/client';
import { probeStun } from '../../service/turn/probe';
import { collectOutput } from './child-output';
import { freePortBlock } from './ports';

/**
 * Runs the project's coturn/entrypoint.sh and coturn/turnserver.conf with Debian forky's
 * turnserver (made by test/coturn/ensure-coturn.sh) as a host process in a chroot, as the
 * unprivileged user the image uses, on loopback ports only.
 */

export const REPO = resolve(__dirname, '../..');
export const COTURN_ROOT = process.env.TURNKEY_COTURN_ROOT ?? join(REPO, '.cache/coturn-forky');

export interface CoturnOptions {
  /** Environment for the entrypoint; TURN_PORT, relay ports and listening IPs are filled in. */
  env?: RelayEnv;
  /** Secret files to create, by variable: `{ TURN_SECRET_FILE: 'abc…' }` writes the file and sets the var. */
  files?: { [K in keyof RelayEnv as K extends `${string}_FILE` ? K : never]?: string };
  /** Config appended through TURN_EXTRA_CONFIG_FILE. */
  overlay?: string;
  /** Extra turnserver arguments; `-v` makes it log each request's outcome. */
  args?: string[];
  /** Wait for a STUN answer before resolving (default true). */
  waitReady?: boolean;
  /** How many relay ports turnserver gets (default 10; each allocation takes one or two). */
  relayPortCount?: number;
  /** A base config instead of the shipped coturn/turnserver.conf (benchmarks compare the two). */
  baseConfig?: string;
}

export interface RunningCoturn {
  port: number;
  /** The entrypoint's environment; file paths in it are inside the chroot (COTURN_ROOT). */
  env: RelayEnv;
  relayPorts: [number, number];
  process: ChildProcess;
  /** Everything turnserver and the entrypoint printed so far. */
  log(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export function assertReady(): void {
  if (process.getuid?.() !== 0)
    throw new Error('the Coturn tests need root (chroot); run them as root');
  if (!existsSync(join(COTURN_ROOT, 'usr/bin/turnserver'))) {
    throw new Error(
      `no Coturn at ${COTURN_ROOT}: run test/coturn/ensure-coturn.sh (npm run test:coturn does)`,
    );
  }
}

/** A fresh directory inside the chroot; returns [host path, path inside the chroot]. */
export function workDir(): [string, string] {
  const inside = `/turnkey-test/${randomBytes(6).toString('hex')}`;
  const host = join(COTURN_ROOT, inside);
  mkdirSync(join(host, 'run'), { recursive: true });
  chmodSync(host, 0o755);
  chownSync(join(host, 'run'), COTURN_UID, COTURN_UID);
  chmodSync(join(host, 'run'), 0o700);
  return [host, inside];
}

export function writeOwned(path: string, content: string, mode = 0o400): void {
  writeFileSync(path, content, { mode });
  chownSync(path, COTURN_UID, COTURN_UID);
}

export async function startCoturn(opts: CoturnOptions = {}): Promise<RunningCoturn> {
  assertReady();
  const [host, inside] = workDir();
  copyFileSync(join(REPO, 'coturn/entrypoint.sh'), join(host, 'entrypoint.sh'));
  if (opts.baseConfig === undefined)
    copyFileSync(join(REPO, 'coturn/turnserver.conf'), join(host, 'turnserver.conf'));
  else writeFileSync(join(host, 'turnserver.conf'), opts.baseConfig);
  chmodSync(join(host, 'turnserver.conf'), 0o644);

  const relayCount = opts.relayPortCount ?? 10;
  const base = await freePortBlock(relayCount + 2);
  const env: RelayEnv & { PATH: string } = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    TURN_BASE_CONFIG: `${inside}/turnserver.conf`,
    TURN_RUNTIME_DIR: `${inside}/run`,
    TURN_PORT: String(base),
    TURN_RELAY_PORTS: `${base + 2}-${base + 1 + relayCount}`,
    TURN_LISTENING_IPS: '127.0.0.1,::1',
    TURN_RELAY_IPS: '127.0.0.1,::1',
  };
  for (const [name, content] of Object.entries(opts.files ?? {})) {
    writeOwned(join(host, name), content);
    env[name as keyof RelayEnv] = `${inside}/${name}`;
  }
  if (opts.overlay !== undefined) {
    writeOwned(join(host, 'overlay.conf'), opts.overlay, 0o444);
    env.TURN_EXTRA_CONFIG_FILE = `${inside}/overlay.conf`;
  }
  Object.assign(env, opts.env);
  const port = Number(env.TURN_PORT);

  // chroot, env and sh each exec the next, so this child's pid ends up being turnserver's.
  const child = spawn(
    'chroot',
    [
      '--userspec=nobody:nogroup',
      COTURN_ROOT,
      'env',
      '-i',
      ...Object.entries(definedEnv(env)).map(([k, v]) => `${k}=${v}`),
      '/bin/sh',
      `${inside}/entrypoint.sh`,
      ...(opts.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output = collectOutput(child);
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  let stopped = false;
  const stop = async () => {
    if (!stopped) {
      stopped = true;
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      rmSync(host, { recursive: true, force: true });
    }
  };

  const running: RunningCoturn = {
    port,
    env,
    relayPorts: [base + 2, base + 1 + relayCount],
    process: child,
    log: output,
    exited,
    stop,
  };
  if (opts.waitReady === false) return running;

  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`turnserver exited (${child.exitCode}) before answering:\n${output()}`);
    }
    try {
      await probeStun({ host: '127.0.0.1', port, transport: 'udp', timeoutMs: 300 });
      return running;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`turnserver did not answer STUN within 10 s:\n${output()}`);
      }
    }
  }
}

export interface UclientResult {
  code: number | null;
  output: string;
}

/**
 * Env for a relay reachable from outside, as every production one is: listening on every
 * interface (clients here still come in, and relay from, loopback). Its deny list is whole,
 * loopback included; the default, listening on loopback alone, is a relay for this machine
 * alone, which allows its own loopback address as a peer (coturn/entrypoint.sh loopback_only).
 */
export const LISTENING_EVERYWHERE = { TURN_LISTENING_IPS: '' } as const;

/**
 * Runs Coturn's own client until it exits, or until `until` matches the server's log (then
 * stops it: on refusals uclient retries for about 15 s before giving up).
 */
export function runUclient(
  server: RunningCoturn,
  args: string[],
  opts: { until?: RegExp; timeoutMs?: number } = {},
): Promise<UclientResult> {
  const child = spawn(
    'chroot',
    [COTURN_ROOT, 'turnutils_uclient', '-p', String(server.port), ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const output = collectOutput(child);
  return new Promise((resolvePromise) => {
    const poll = setInterval(() => {
      if (opts.until?.test(server.log())) child.kill('SIGKILL');
    }, 50);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('exit', async (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      // The client can see the server's answer before the server has logged it.
      for (let i = 0; i < 40 && opts.until && !opts.until.test(server.log()); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      resolvePromise({ code, output: output() });
    });
  });
}

/** A UDP echo peer (Coturn's turnutils_peer) on loopback; returns its port and a stop function. */
export async function startPeer(
  host = '127.0.0.1',
): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePortBlock(1);
  const child = spawn('chroot', [COTURN_ROOT, 'turnutils_peer', '-p', String(port), '-L', host], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  await new Promise((r) => setTimeout(r, 200));
  return {
    port,
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * The entrypoint's exit code, or "still running after 10 s" when it let the value through and
 * started turnserver; the output and the stopped server are returned either way.
 */
export async function entrypointOutcome(
  opts: CoturnOptions,
): Promise<{ code: unknown; out: string }> {
  const server = await startCoturn({ ...opts, waitReady: false });
  const code = await Promise.race([
    server.exited,
    new Promise((r) => setTimeout(() => r('still running after 10 s'), 10_000)),
  ]);
  const out = server.log().trim();
  await server.stop();
  return { code, out };
}

/** Each peer's CreatePermission outcome: 0 when granted, else the TURN error code. */
export async function permissionCodes(
  allocation: { createPermission(peer: string): Promise<void> },
  peers: string[],
): Promise<Record<string, number>> {
  const codes: Record<string, number> = {};
  for (const peer of peers) {
    codes[peer] = await allocation.createPermission(peer).then(
      () => 0,
      (e: unknown) => (e instanceof TurnError ? e.code : -1),
    );
  }
  return codes;
}

/** Credentials exactly as the service hands them out (the coturn provider signing with `secret`). */
export async function mintCredential(
  secret: string,
  user: string,
  opts: { ttl?: number; now?: () => number } = {},
): Promise<{ username: string; credential: string }> {
  const provider = new CoturnProvider({
    secret,
    turnUris: ['turn:127.0.0.1:3478'],
    stunUris: [],
    credentialTtl: 3600,
    ...(opts.now ? { now: opts.now } : {}),
  });
  const { iceServers } = await provider.getIceServers(user, opts.ttl ? { ttl: opts.ttl } : {});
  const turn = iceServers.at(-1);
  return { username: turn?.username as string, credential: turn?.credential as string };
}
