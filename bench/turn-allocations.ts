import { randomBytes } from 'node:crypto';
import { CoturnProvider } from '../service/providers/coturn';
import { allocate, TurnError } from '../service/turn/client';
import { startCoturn } from '../test/helpers/coturn';
import { median, publish, table } from './report';

/** Turnserver's defaults plus only what TURN REST credentials need: the comparison baseline. */
const DEFAULT_CONFIG = 'use-auth-secret\nlog-file=stdout\n';

async function run(config: 'hardened' | 'default', total: number, concurrency: number) {
  const secret = randomBytes(32).toString('hex');
  const server = await startCoturn({
    env: { TURN_SECRET: secret, TURN_LISTENING_IPS: '127.0.0.1', TURN_RELAY_IPS: '127.0.0.1' },
    // A released relay port is not handed out again at once: room for every allocation.
    relayPortCount: total + concurrency * 2,
    ...(config === 'default' ? { baseConfig: DEFAULT_CONFIG } : {}),
  });
  const provider = new CoturnProvider({
    secret,
    turnUris: [`turn:127.0.0.1:${server.port}`],
    stunUris: [],
    credentialTtl: 3600,
  });
  const errors = new Map<string, number>();
  let ok = 0;
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < total) {
      const n = next++;
      // A distinct user each time: the per-user quota is not what is measured here.
      const turn = (await provider.getIceServers(`bench${n}`)).iceServers.at(-1);
      let phase = 'allocate';
      try {
        const allocation = await allocate({
          host: '127.0.0.1',
          port: server.port,
          username: turn?.username as string,
          credential: turn?.credential as string,
        });
        phase = 'release';
        await allocation.release();
        ok++;
      } catch (err) {
        const key = `${phase} ${err instanceof TurnError ? String(err.code || err.message) : (err as Error).message}`;
        errors.set(key, (errors.get(key) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  await server.stop();
  return { ok, rate: ok / seconds, errors };
}

export async function turnAllocations(): Promise<void> {
  // Under the shipped total-quota (1200): turnserver counts a UDP session until it times out,
  // not only while its allocation lives, so a faster churn is refused with 486 by design.
  const TOTAL = Number(process.env.BENCH_ALLOCATIONS ?? 1000);
  const CONCURRENCY = 32;
  const ROUNDS = 5;
  const results: Record<'hardened' | 'default', Awaited<ReturnType<typeof run>>[]> = {
    hardened: [],
    default: [],
  };
  for (let round = 0; round < ROUNDS; round++) {
    const order: ('hardened' | 'default')[] =
      round % 2 === 0 ? ['hardened', 'default'] : ['default', 'hardened'];
    for (const config of order) results[config].push(await run(config, TOTAL, CONCURRENCY));
  }
  const rate = (c: 'hardened' | 'default') => median(results[c].map((r) => r.rate));
  const rows = (['hardened', 'default'] as const).map((c) => {
    const okAll = results[c].reduce((s, r) => s + r.ok, 0);
    const errs = new Map<string, number>();
    for (const r of results[c]) for (const [k, v] of r.errors) errs.set(k, (errs.get(k) ?? 0) + v);
    return [
      c === 'hardened' ? 'shipped coturn/turnserver.conf' : 'turnserver defaults + use-auth-secret',
      `${((100 * okAll) / (TOTAL * ROUNDS)).toFixed(2)}%`,
      Math.round(rate(c)),
      [...errs].map(([k, v]) => `${v}× ${k}`).join(', ') || 'none',
    ];
  });
  const ratio = rate('hardened') / rate('default');
  publish(
    'turn-allocations',
    'TURN allocations: shipped config against turnserver defaults',
    [
      table(['config', 'success (target 100%)', 'allocations/s', 'errors'], rows),
      '',
      `hardened/default: ${ratio.toFixed(3)} (target ≥ 0.95: ${ratio >= 0.95 ? 'yes' : 'no'})`,
    ].join('\n'),
    [
      `Debian's turnserver 4.18 on loopback; each round ${TOTAL} allocations at ${CONCURRENCY} at a time, each with credentials minted by the project's provider for a distinct user, allocated and released by service/turn/client.ts; ${ROUNDS} rounds in alternating order, median rate.`,
      'The shipped config logs every request (verbose), enforces quotas and checks each peer against its deny list.',
      'A round lasts well under a second (the quota below caps a round on one server), so single rounds vary by ±30% on this machine: read the ratio from the median, not a single run.',
      'Its total-quota (1200) counts a UDP client session until the session times out, not only while its allocation lives: churning more than 1200 allocations within that time is refused with 486. Each round here stays below it; size total-quota to the churn you expect.',
    ],
  );
}
