import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { startFakeMetered } from '../test/helpers/fake-metered';
import { percentile, publish, table } from './report';
import { shippedService } from './servers';

/** A cold burst against a Metered upstream with a fixed delay: mints, latency; then warm latency. */
export async function meteredPath(): Promise<void> {
  const BURST = 1000;
  const UPSTREAM_DELAY_MS = 100;
  const ROUNDS = 3;
  const token = randomBytes(24).toString('hex');
  const fake = await startFakeMetered();
  fake.delayMs = UPSTREAM_DELAY_MS;
  const agent = new Agent({ connections: BURST });
  const rows: (string | number)[][] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const svc = await shippedService({
        TURN_PROVIDER: 'metered',
        TURN_API_URL: fake.url,
        TURN_API_KEY: fake.secretKey,
        API_TOKENS: token,
        RATE_LIMIT_PER_MINUTE: '1000000',
        RATE_LIMIT_PER_TOKEN_PER_MINUTE: '10000000',
      });
      try {
        const once = async (user: string) => {
          const started = performance.now();
          const res = await request(`${svc.url}/v1/ice-servers?user=${user}`, {
            headers: { authorization: `Bearer ${token}` },
            dispatcher: agent,
          });
          await res.body.text();
          return { ms: performance.now() - started, ok: res.statusCode === 200 };
        };
        const mintsBefore = fake.mints;
        const cold = await Promise.all(Array.from({ length: BURST }, (_, i) => once(`cold${i}`)));
        const mints = fake.mints - mintsBefore;
        const warm: { ms: number; ok: boolean }[] = [];
        for (let i = 0; i < 5; i++)
          warm.push(
            ...(await Promise.all(Array.from({ length: 200 }, (_, j) => once(`warm${j}`)))),
          );
        const ms = (xs: { ms: number }[], p: number) =>
          percentile(
            xs.map((x) => x.ms),
            p,
          ).toFixed(1);
        rows.push([
          round,
          mints,
          cold.filter((c) => c.ok).length,
          ms(cold, 50),
          ms(cold, 99),
          ms(cold, 100),
          ms(warm, 50),
          ms(warm, 99),
        ]);
      } finally {
        await svc.stop();
      }
    }
  } finally {
    await agent.close();
    await fake.close();
  }
  publish(
    'metered',
    'Metered path: cold burst and warm cache',
    table(
      [
        'round',
        'upstream mints (target 1)',
        `200s of ${BURST}`,
        'cold p50 ms',
        'cold p99 ms',
        'cold max ms',
        'warm p50 ms',
        'warm p99 ms',
      ],
      rows,
    ),
    [
      `Each round: a fresh service process, ${BURST} concurrent requests on a cold cache against a local fake of Metered's API that answers each call after ${UPSTREAM_DELAY_MS} ms (a mint and a list: two calls), then 5 × 200 concurrent warm requests.`,
      'Cold latency includes the two upstream calls; every request waits on the same coalesced refresh.',
    ],
  );
}
