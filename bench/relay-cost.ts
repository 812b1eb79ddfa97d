import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { turnRestCredential } from '../service/providers/coturn';
import { assertReady, REPO, workDir } from '../test/helpers/coturn';
import { startLabCoturn } from '../test/lab/coturn';
import { assertLabCapable, createLab, type Lab } from '../test/lab/lab';
import { buildRelayblast, RelayblastSession, type RelayTarget } from '../test/lab/relayblast';
import { loadAverage, median, publish, table } from './report';

/**
 * What relaying costs the relay, independent of the load generator's ceiling: the relay's CPU
 * time per relayed packet (the sum over its threads of /proc/<pid>/task/<tid>/schedstat's time
 * on CPU, in ns) at fixed offered rates well below what the generator reaches, counted only
 * where every packet arrived. turnserver with its defaults, turnserver with the shipped config,
 * and pion/turn's server (bench/servers/pion-turn, built from Debian's Go sources) with the same
 * credentials, all on core 0 with the generator on core 1, in the lab (test/lab), rounds in
 * rotating order. Needs root, what test:lab installs, gcc, and golang-go with
 * golang-github-pion-turn.v2-dev (installed here when missing).
 */

const RELAY_CPU = '0';
const GENERATOR_CPU = '1';
const ALLOCATIONS = 200;
const RELAY_PORTS = { min: 40000, max: 40999 };
const RATES: Record<number, number[]> = {
  160: [10_000, 20_000, 40_000],
  1200: [5_000, 10_000, 20_000],
};
const DEFAULTS = 'turnserver defaults';
const SHIPPED = 'turnserver, shipped config';
const PION = 'pion/turn v2 (Debian)';
/** The shipped config less one option, to find what costs (the shipped config's own lines). */
const WITHOUT: Record<string, RegExp> = {
  'shipped without max-bps': /^max-bps=.*$/m,
  'shipped without verbose': /^verbose$/m,
};

interface Relay extends RelayTarget {
  pid: number;
  stop(): Promise<void>;
}

/** The relay's CPU time so far, ns, over all its threads. */
function cpuNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // a thread that ended meanwhile
    }
  }
  return total;
}

const pin = (pid: number) => execFileSync('taskset', ['-a', '-p', '-c', RELAY_CPU, String(pid)]);

/**
 * What this benchmark needs on a fresh machine, installed as the lab suites install theirs: the
 * lab and the Coturn root (test/lab/ensure-lab.sh), gcc and OpenSSL headers for the generator,
 * Go and pion's sources for the peer relay.
 */
function ensureTools(): void {
  execFileSync('bash', [join(REPO, 'test/lab/ensure-lab.sh')], { stdio: 'inherit' });
  const missing = [
    ['/usr/bin/gcc', 'gcc'],
    ['/usr/include/openssl/hmac.h', 'libssl-dev'],
    ['/usr/include/stdio.h', 'libc6-dev'],
    ['/usr/bin/go', 'golang-go'],
    ['/usr/share/gocode/src/github.com/pion/turn/v2', 'golang-github-pion-turn.v2-dev'],
  ]
    .filter(([path]) => !existsSync(path as string))
    .map(([, pkg]) => pkg as string);
  if (missing.length === 0) return;
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** Builds bench/servers/pion-turn in GOPATH mode over Debian's Go sources; no module download. */
function buildPion(): string {
  const dir = join(REPO, '.cache/pion-turn');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'pion-turn');
  execFileSync('go', ['build', '-o', out, '.'], {
    cwd: join(REPO, 'bench/servers/pion-turn'),
    env: {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH: `${join(dir, 'gopath')}:/usr/share/gocode`,
      GOCACHE: join(dir, 'cache'),
      GOPROXY: 'off',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return out;
}

async function startTurnserver(lab: Lab, name: string): Promise<Relay> {
  const env: Record<string, string> = {};
  const shipped = readFileSync(join(REPO, 'coturn/turnserver.conf'), 'utf8');
  // The entrypoint's own lines (secret, realm, ports, no-tls) and nothing else.
  const base =
    name === DEFAULTS
      ? 'use-auth-secret\nlog-file=stdout\nsimple-log\n'
      : WITHOUT[name]
        ? shipped.replace(WITHOUT[name] as RegExp, '')
        : undefined;
  if (base !== undefined) {
    const [dir, inside] = workDir();
    writeFileSync(join(dir, 'base.conf'), base, { mode: 0o644 });
    env.TURN_BASE_CONFIG = `${inside}/base.conf`;
  }
  const server = await startLabCoturn(lab, 'relay', {
    env,
    stack: { relayPorts: `${RELAY_PORTS.min}-${RELAY_PORTS.max}` },
  });
  const pid = server.process.pid as number;
  pin(pid);
  return { ...server, pid, stop: () => server.stop() };
}

async function startPion(lab: Lab, bin: string): Promise<Relay> {
  const secret = execFileSync('openssl', ['rand', '-hex', '32']).toString().trim();
  const child = lab.spawn(
    lab.relay.ns,
    [
      bin,
      '-listen',
      `${lab.relay.ip}:3478`,
      '-relay-ip',
      lab.relay.ip,
      '-min-port',
      String(RELAY_PORTS.min),
      '-max-port',
      String(RELAY_PORTS.max),
    ],
    { env: { TURN_SECRET: secret } },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`pion-turn exited (${code})`)));
  });
  const pid = child.pid as number;
  pin(pid);
  return {
    publicIp: lab.relay.ip,
    turnPort: 3478,
    pid,
    credential: (user) => turnRestCredential(secret, user, Math.floor(Date.now() / 1000) + 3600),
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

interface Sample {
  cpuUsPerPacket: number;
  clean: boolean;
  p50: number;
  p99: number;
}

export async function relayCost(): Promise<void> {
  ensureTools();
  assertLabCapable();
  assertReady();
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const seconds = Number(process.env.BENCH_SECONDS ?? 3);
  const blast = buildRelayblast();
  const pion = buildPion();
  const loadBefore = loadAverage();
  const lab = await createLab('cost');
  const servers = [DEFAULTS, SHIPPED, ...Object.keys(WITHOUT), PION];
  const samples = new Map<string, Sample[]>();
  const direct = new Map<string, { p50: number; p99: number }[]>();
  const key = (server: string, size: number, pps: number) => `${server}|${size}|${pps}`;
  const add = <T>(m: Map<string, T[]>, k: string, v: T) => m.set(k, [...(m.get(k) ?? []), v]);
  try {
    for (let round = 0; round < rounds; round++) {
      {
        const s = await RelayblastSession.open(lab, blast, undefined, ALLOCATIONS, GENERATOR_CPU);
        for (const [size, rates] of Object.entries(RATES))
          for (const pps of rates) {
            const p = await s.probe('direct', pps, seconds, Number(size));
            add(direct, key('direct', Number(size), pps), { p50: p.p50, p99: p.p99 });
          }
        await s.close();
      }
      const order = servers.map((_, i) => servers[(i + round) % servers.length] as string);
      for (const name of order) {
        const relay = name === PION ? await startPion(lab, pion) : await startTurnserver(lab, name);
        try {
          const s = await RelayblastSession.open(lab, blast, relay, ALLOCATIONS, GENERATOR_CPU);
          for (const [size, rates] of Object.entries(RATES))
            for (const pps of rates) {
              const before = cpuNs(relay.pid);
              const p = await s.probe('blast', pps, seconds, Number(size));
              const spent = cpuNs(relay.pid) - before;
              add(samples, key(name, Number(size), pps), {
                cpuUsPerPacket: spent / 1000 / Math.max(1, p.recv),
                clean: p.recv === p.sent && p.elapsed <= seconds * 1.02,
                p50: p.p50,
                p99: p.p99,
              });
            }
          await s.close();
          process.stderr.write(`round ${round + 1}: ${name} done (load ${loadAverage()})\n`);
        } finally {
          await relay.stop();
        }
      }
    }
  } finally {
    await lab.destroy();
  }
  const loadAfter = loadAverage();

  const rows: (string | number)[][] = [];
  for (const name of servers)
    for (const [size, rates] of Object.entries(RATES))
      for (const pps of rates) {
        const ss = samples.get(key(name, Number(size), pps)) ?? [];
        const d = direct.get(key('direct', Number(size), pps)) ?? [];
        const us = median(ss.map((x) => x.cpuUsPerPacket));
        const mbit = (pps * Number(size) * 8) / 1e6;
        rows.push([
          name,
          `${size} B`,
          `${pps / 1000}k (${mbit.toFixed(0)} Mbit/s)`,
          us.toFixed(2),
          ((us * pps) / mbit).toFixed(0),
          `${ss.filter((x) => x.clean).length}/${ss.length}`,
          `${median(ss.map((x) => x.p50))} / ${median(ss.map((x) => x.p99))}`,
          `${median(d.map((x) => x.p50))} / ${median(d.map((x) => x.p99))}`,
        ]);
      }
  /** CPU per relayed packet, 1200 B, each round's mean over the fixed rates, median over rounds. */
  const perRound = (name: string) =>
    Array.from({ length: rounds }, (_, r) => {
      const xs = (RATES[1200] as number[]).map(
        (pps) => samples.get(key(name, 1200, pps))?.[r]?.cpuUsPerPacket ?? Number.NaN,
      );
      return xs.reduce((a, b) => a + b, 0) / xs.length;
    });
  const ratio = (a: string, b: string) => {
    const pa = perRound(a);
    const pb = perRound(b);
    return median(pa.map((x, i) => x / (pb[i] as number)));
  };
  const shippedDefaults = ratio(SHIPPED, DEFAULTS);
  const shippedPion = ratio(SHIPPED, PION);
  const shippedUs = median(perRound(SHIPPED));
  // A 1080p call: ~2.5 Mbit/s of 1200-B video (~260 packets/s) and 50 packets/s of audio each
  // way; with both ends relayed by one relay, each packet is relayed twice (in at one
  // allocation, out at the other's relayed address and in again).
  const packetsPerCall = 2 * 2 * (260 + 50);
  const callsPerCore = Math.floor(1e6 / (shippedUs * packetsPerCall));
  publish(
    'relay-cost',
    'Relay cost: CPU per relayed packet at fixed rates',
    [
      table(
        [
          'relay',
          'packet',
          'offered rate',
          'CPU µs per packet',
          'CPU µs per Mbit',
          'rounds at 0 loss',
          'relayed latency p50 / p99 µs',
          'direct p50 / p99 µs',
        ],
        rows,
      ),
      '',
      `Calls per core (shipped config): a 1080p call through one relay (both ends relayed: ${packetsPerCall} relayed packets/s) costs ${((shippedUs * packetsPerCall) / 1e4).toFixed(2)}% of a core, so about ${callsPerCore} such calls per core, CPU alone.`,
      '',
      ...Object.keys(WITHOUT).map(
        (name) => `shipped/${name.replace('shipped ', '')}: ${ratio(SHIPPED, name).toFixed(2)}`,
      ),
      '',
      `shipped/defaults: ${shippedDefaults.toFixed(2)}`,
      `shipped/pion: ${shippedPion.toFixed(2)}`,
    ].join('\n'),
    [
      `Load average (1/5/15 min) before: ${loadBefore}; after: ${loadAfter}.`,
      `CPU is each relay's time on CPU over all its threads (/proc/<pid>/task/*/schedstat), read before and after a ${seconds} s blast at the offered rate, divided by the packets that arrived; a rate counts at 0 loss only when every packet arrived and the sender kept the rate.`,
      `${rounds} rounds, relays in rotating order; medians over rounds. Ratios: CPU per relayed 1200-B packet, each round's mean over ${(RATES[1200] as number[]).map((r) => `${r / 1000}k`).join(', ')} packets/s, median over rounds (goals: shipped/defaults ≤ 1.05, shipped/pion ≤ 0.5).`,
      `Lab (test/lab): generator on the backend host with ${ALLOCATIONS} allocations, one channel each to its own peer port on the peer host (test/lab/relayblast.c); relays on the relay host, pinned to core ${RELAY_CPU}, generator and peers on core ${GENERATOR_CPU}.`,
      'turnserver: Debian forky 4.18 in its chroot with the project\'s entrypoint; "defaults" is the entrypoint\'s own lines only. pion: bench/servers/pion-turn (pion/turn v2 from golang-github-pion-turn.v2-dev, Go from golang-go), the same REST credentials (HMAC-SHA1 over "<expiry>:<user>"), no deny list.',
    ],
  );
  process.stdout.write(
    `shipped/defaults: ${shippedDefaults.toFixed(2)}\nshipped/pion: ${shippedPion.toFixed(2)}\n`,
  );
}
