import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertReady, workDir } from '../test/helpers/coturn';
import { type LabCoturn, startLabCoturn } from '../test/lab/coturn';
import { assertLabCapable, createLab, type Lab } from '../test/lab/lab';
import {
  buildRelayblast,
  type Probe,
  RelayblastSession,
  relayedPair,
} from '../test/lab/relayblast';
import { loadAverage, median, publish, table } from './report';

/**
 * The relay's data plane in the lab: a client on the public segment (the backend host) makes
 * ALLOCATIONS allocations on the relay host and blasts ChannelData to as many peer ports on the
 * peer host; the highest rate that arrives without a single loss is found by search, per
 * turnserver configuration. turnserver runs on core 0, the generator and the peers on core 1
 * (test/lab/relayblast.c, compiled with the machine's gcc), so the result is what the
 * relay forwards on one core. Needs root (network namespaces, chroot).
 */

/** Enough allocations that the shipped max-bps (per allocation) never caps the total here. */
const ALLOCATIONS = 200;
const RELAY_CPU = '0';
const GENERATOR_CPU = '1';

interface Variant {
  name: string;
  /** Base config instead of the shipped one (turnserver's defaults). */
  base?: string;
  /** Lines appended to the config. */
  extra?: string;
}

const SHIPPED = 'shipped (coturn/turnserver.conf)';
/** A 1080p call sends about 2.5-4 Mbit/s; above that, headroom. */
const CALL_MBITS = [2.5, 4, 5, 8];

const VARIANTS: Variant[] = [
  // The entrypoint's own lines (secret, realm, ports, no-tls) and nothing else.
  { name: 'turnserver defaults', base: 'use-auth-secret\nlog-file=stdout\nsimple-log\n' },
  { name: SHIPPED },
  { name: 'shipped, udp-recvmmsg=false', extra: 'udp-recvmmsg=false\n' },
  { name: 'shipped + multiplex-peer', extra: 'multiplex-peer\n' },
  { name: 'shipped + multiplex-peer + udp-gso', extra: 'multiplex-peer\nudp-gso\n' },
  { name: 'shipped, max-bps=0', extra: 'max-bps=0\n' },
];

/** Highest rate (packets/s) with zero loss: double until a loss, then bisect. */
async function zeroLossRate(
  session: RelayblastSession,
  mode: 'blast' | 'direct',
  seconds: number,
  size: number,
): Promise<number> {
  const clean = async (pps: number) => {
    const p = await session.probe(mode, pps, seconds, size);
    // A sender that fell behind its target proves nothing about the relay.
    if (process.env.BENCH_DEBUG)
      process.stderr.write(`${mode} ${size} B ${pps}/s: ${JSON.stringify(p)}\n`);
    return p.recv === p.sent && p.elapsed <= seconds * 1.02;
  };
  let lo = 0;
  let hi = 0;
  for (let pps = 10_000; pps <= 2_560_000; pps *= 2) {
    if (await clean(pps)) lo = pps;
    else {
      hi = pps;
      break;
    }
  }
  if (hi === 0) return lo;
  while (hi - lo > Math.max(lo, 10_000) * 0.05) {
    const mid = Math.round((lo + hi) / 2);
    if (await clean(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

async function startVariant(lab: Lab, v: Variant): Promise<LabCoturn> {
  const [dir, inside] = workDir();
  const env: Record<string, string> = {};
  if (v.base !== undefined) {
    writeFileSync(join(dir, 'base.conf'), v.base, { mode: 0o644 });
    env.TURN_BASE_CONFIG = `${inside}/base.conf`;
  }
  if (v.extra !== undefined) {
    writeFileSync(join(dir, 'extra.conf'), v.extra, { mode: 0o644 });
    env.TURN_EXTRA_CONFIG_FILE = `${inside}/extra.conf`;
  }
  const server = await startLabCoturn(lab, 'relay', { env });
  // Every turnserver thread on one core (the bench measures what one core relays).
  execFileSync('taskset', ['-a', '-p', '-c', RELAY_CPU, String(server.process.pid)]);
  return server;
}

export async function relayThroughput(): Promise<void> {
  assertLabCapable();
  assertReady();
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const seconds = Number(process.env.BENCH_SECONDS ?? 2);
  const latencyPps = 20_000;
  const small = 160; // an Opus-sized payload: what packets per second mean
  const large = 1200; // a video-sized payload: what Mbit/s mean
  const only = process.env.BENCH_VARIANTS?.split(',').map(Number);
  const variants = only ? VARIANTS.filter((_, i) => only.includes(i)) : VARIANTS;
  const bin = buildRelayblast();
  const loadBefore = loadAverage();
  const lab = await createLab('bnch');
  const pps = new Map<string, number[]>();
  const mbps = new Map<string, number[]>();
  const lat = new Map<string, Probe[]>();
  const pairs = new Map<string, number[]>();
  const callRows: (string | number)[][] = [];
  const add = <T>(m: Map<string, T[]>, k: string, v: T) => m.set(k, [...(m.get(k) ?? []), v]);
  try {
    for (let round = 0; round < rounds; round++) {
      // The generator's own ceiling (no relay): a relay result near it measures the generator.
      {
        const s = await RelayblastSession.open(lab, bin, undefined, ALLOCATIONS, GENERATOR_CPU);
        add(pps, 'direct', await zeroLossRate(s, 'direct', seconds, small));
        add(lat, 'direct', await s.probe('direct', latencyPps, seconds, small));
        await s.close();
      }
      const order = variants.map((_, i) => variants[(i + round) % variants.length] as Variant);
      for (const v of order) {
        const server = await startVariant(lab, v);
        try {
          const s = await RelayblastSession.open(lab, bin, server, ALLOCATIONS, GENERATOR_CPU);
          add(pps, v.name, await zeroLossRate(s, 'blast', seconds, small));
          add(lat, v.name, await s.probe('blast', latencyPps, seconds, small));
          add(mbps, v.name, ((await zeroLossRate(s, 'blast', seconds, large)) * large * 8) / 1e6);
          await s.close();
          // Two clients behind the symmetric NAT calling each other through this relay.
          for (let t = 0; t < 2; t++) {
            const p = await relayedPair(lab, bin, server, lab.siteB.ns);
            add(pairs, v.name, p.delivered.filter(Boolean).length);
          }
          if (round === 0 && v.name === SHIPPED) {
            const one = await RelayblastSession.open(lab, bin, server, 1, GENERATOR_CPU);
            for (const mbit of CALL_MBITS) {
              const p = await one.probe('blast', Math.round((mbit * 1e6) / 8 / large), 3, large);
              callRows.push([mbit, p.sent, p.recv, `${((100 * p.recv) / p.sent).toFixed(1)}%`]);
            }
            await one.close();
          }
          process.stderr.write(`round ${round + 1}: ${v.name} done (load ${loadAverage()})\n`);
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    await lab.destroy();
  }
  const loadAfter = loadAverage();
  const base = median(pps.get(VARIANTS[0]?.name as string) ?? [0]);
  const direct = median((lat.get('direct') ?? []).map((p) => p.p50));
  const direct99 = median((lat.get('direct') ?? []).map((p) => p.p99));
  const rows = variants.map((v) => {
    const l = lat.get(v.name) ?? [];
    const p50 = median(l.map((p) => p.p50));
    const p99 = median(l.map((p) => p.p99));
    const r = median(pps.get(v.name) ?? [0]);
    return [
      v.name,
      Math.round(r),
      (pps.get(v.name) ?? []).map((x) => Math.round(x / 1000)).join(' / '),
      Math.round(median(mbps.get(v.name) ?? [0])),
      `${p50} / ${p99}`,
      base ? (r / base).toFixed(2) : '-',
      `${(pairs.get(v.name) ?? []).reduce((a, b) => a + b, 0)}/${(pairs.get(v.name) ?? []).length * 2}`,
    ];
  });
  const shipped = median(pps.get(SHIPPED) ?? [0]);
  // A subset of configurations (BENCH_VARIANTS) goes to its own file, beside the full table.
  const name = only ? `relay-throughput-${only.join('-')}` : 'relay-throughput';
  const env = [
    only ? `BENCH_VARIANTS=${only.join(',')}` : '',
    process.env.BENCH_ROUNDS ? `BENCH_ROUNDS=${rounds}` : '',
  ].filter(Boolean);
  publish(
    name,
    'Relay data plane: forwarded per core, at zero loss',
    [
      table(
        [
          'turnserver config',
          'packets/s at 0 loss (160 B)',
          'rounds, kpps',
          'Mbit/s at 0 loss (1200 B)',
          `latency p50 / p99 µs at ${latencyPps / 1000}k pps (direct: ${direct} / ${direct99})`,
          '× defaults',
          'relayed clients reach each other (directions)',
        ],
        rows,
      ),
      '',
      `One allocation of the shipped config (max-bps=1000000) at a call's rates, 1200 B packets for 3 s:`,
      '',
      table(['Mbit/s', 'sent', 'arrived', 'delivered'], callRows),
      '',
      `Generator ceiling without a relay: ${Math.round(median(pps.get('direct') ?? [0]))} packets/s at 0 loss; direct-path latency p50 ${direct} µs, p99 ${direct99} µs.`,
      '',
      `Shipped ≥ 1.5× the defaults' packets/s: ${base && shipped / base >= 1.5 ? 'met' : 'missed'} (${base ? (shipped / base).toFixed(2) : '-'}×).`,
    ].join('\n'),
    [
      `Load average (1/5/15 min) before: ${loadBefore}; after: ${loadAfter}.`,
      `Median of ${rounds} rounds, configurations in rotating order; each rate is the highest at which every packet of a ${seconds} s blast arrived (doubling from 10k, then bisecting to 5%), with the sender reaching its target rate.`,
      `Lab (test/lab): client on the backend host (11.0.0.40), relay host 11.0.0.10, ${ALLOCATIONS} allocations (one credential each, as the service mints them), each with a channel to its own peer port on the peer host (11.0.0.50).`,
      `turnserver (Debian forky's 4.18 in its chroot, the project's entrypoint) pinned to core ${RELAY_CPU} with all its threads; generator and peers (test/lab/relayblast.c: sendmmsg/recvmmsg, send time stamped in each payload) on core ${GENERATOR_CPU}.`,
      'Latency: send to arrival at the peer, relayed; "direct" is the same generator sending straight to the peers at the same rate (what the relay adds is the difference).',
    ],
    `${env.length ? `${env.join(' ')} ` : ''}npm run bench -- relay-throughput`,
  );
}
