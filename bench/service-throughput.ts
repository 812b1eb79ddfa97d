import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startFakeTurn } from '../test/helpers/fake-turn';
import { REPO_ROOT } from '../test/helpers/stack';
import { median, publish, table } from './report';
import { type BenchServer, comparisonServer, pinned, shippedService } from './servers';

const exec = promisify(execFile);

/**
 * The pinned method: each server alone on one core, the load generator on the other, so a
 * ratio between servers does not depend on how the generator happens to share their core.
 */
const SERVER_CPU = 0;
const LOAD_CPU = 1;

interface Run {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
}

/** autocannon in its own process on its own core, never sharing one with a server. */
async function autocannon(
  url: string,
  connections: number,
  seconds: number,
  token: string,
): Promise<Run> {
  const bin = join(REPO_ROOT, 'node_modules/autocannon/autocannon.js');
  const [command, ...args] = pinned(LOAD_CPU, [
    process.execPath,
    bin,
    '--json',
    '-c',
    String(connections),
    '-d',
    String(seconds),
    '-H',
    `authorization=Bearer ${token}`,
    `${url}/v1/ice-servers?user=alice`,
  ]) as [string, ...string[]];
  const { stdout } = await exec(command, args, { maxBuffer: 64 * 1024 * 1024 });
  const r = JSON.parse(stdout) as {
    requests: { average: number };
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
  };
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx + r.errors,
  };
}

export async function serviceThroughput(): Promise<void> {
  if (cpus().length < 2)
    throw new Error('service-throughput pins server and load generator to two cores: needs ≥ 2');
  const loadBefore = loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const token = randomBytes(24).toString('hex');
  const secret = randomBytes(24).toString('hex');
  const relay = await startFakeTurn();
  const shared = { BENCH_TOKEN: token, BENCH_SECRET: secret };
  const servers: [string, () => Promise<BenchServer>][] = [
    ['a. bare node:http, precomputed body', () => comparisonServer('bare', shared, SERVER_CPU)],
    ['b. minimal node:http handler', () => comparisonServer('minimal', shared, SERVER_CPU)],
    [
      'c. turnkey service as shipped',
      () =>
        shippedService(
          {
            TURN_PROVIDER: 'coturn',
            TURN_SECRET: secret,
            TURN_URLS: `turn:127.0.0.1:${relay.port}?transport=udp,turn:127.0.0.1:${relay.port}?transport=tcp`,
            API_TOKENS: token,
            // The limiter still runs on every request; one user must not be throttled here.
            RATE_LIMIT_PER_MINUTE: '1000000',
            RATE_LIMIT_PER_TOKEN_PER_MINUTE: '10000000',
            LOG_LEVEL: 'info',
          },
          SERVER_CPU,
        ),
    ],
    ['d. Express, for the record', () => comparisonServer('express', shared, SERVER_CPU)],
  ];
  const connections = [1, 64];
  const runs = new Map<string, Run[]>();
  for (let round = 0; round < rounds; round++) {
    // Alternate the order so no server always runs on a warmer or cooler machine.
    const order = servers.map(
      (_, i) => servers[(i + round) % servers.length] as (typeof servers)[number],
    );
    for (const [name, start] of order) {
      const server = await start();
      try {
        await autocannon(server.url, 8, 1, token); // warm-up, not recorded
        for (const c of connections) {
          const key = `${name}|${c}`;
          runs.set(key, [
            ...(runs.get(key) ?? []),
            await autocannon(server.url, c, seconds, token),
          ]);
        }
      } finally {
        await server.stop();
      }
    }
  }
  await relay.close();

  const med = (name: string, c: number, f: keyof Run) =>
    median((runs.get(`${name}|${c}`) ?? []).map((r) => r[f]));
  const rows = servers.flatMap(([name]) =>
    connections.map((c) => [
      name,
      c,
      Math.round(med(name, c, 'rps')),
      med(name, c, 'p50'),
      med(name, c, 'p99'),
      (runs.get(`${name}|${c}`) ?? []).reduce((s, r) => s + r.non2xx, 0),
    ]),
  );
  const [a, b, cc] = servers.map(([name]) => name) as [string, string, string];
  const ratio = (x: string, y: string, conn: number) => med(x, conn, 'rps') / med(y, conn, 'rps');
  const verdicts = connections.map((conn) => {
    const cb = ratio(cc, b, conn);
    const ca = ratio(cc, a, conn);
    return [conn, cb.toFixed(2), ca.toFixed(2), cb >= 0.85 ? 'yes' : 'no'];
  });
  const p99ok = med(cc, 64, 'p99') <= 2 * Math.max(med(b, 64, 'p99'), 1);
  publish(
    'service-throughput',
    'Credential service: throughput and latency',
    [
      table(['server', 'connections', 'requests/s', 'p50 ms', 'p99 ms', 'non-2xx'], rows),
      '',
      table(['connections', 'c/b', 'c/a', 'c/b ≥ 0.85'], verdicts),
      '',
      `c's p99 at 64 connections ≤ 2× b's: ${p99ok ? 'yes' : 'no'} (${med(cc, 64, 'p99')} ms vs ${med(b, 64, 'p99')} ms)`,
    ].join('\n'),
    [
      `Pinned method: each server alone on core ${SERVER_CPU} (taskset), autocannon on core ${LOAD_CPU}. Median of ${rounds} rounds of ${seconds} s per server and connection count, servers in rotating order.`,
      `Load average (1/5/15 min) before: ${loadBefore}; after: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' / ')} (the machine is shared; rounds alternate so load shifts hit every server).`,
      'c runs the bundled service with the coturn provider, auth, rate limiting, info-level JSON logs (to /dev/null) and Prometheus metrics; a, b and d do the same work (b, d) or none (a) without them.',
      "Latencies are autocannon's, in whole milliseconds: at one connection they round to 0–1 ms.",
    ],
  );
}
