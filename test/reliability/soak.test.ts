import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startFakeTurn } from '../helpers/fake-turn';
import { freePortBlock } from '../helpers/ports';
import { type ServiceProcess, spawnService } from '../helpers/process';
import { randomToken } from '../helpers/service';
import { recordOutcome } from './summary';

/**
 * A bounded soak of the service as shipped (coturn provider, auth, info-level logs, metrics):
 * a fixed request rate on loopback for SOAK_SECONDS, zero errors allowed, and resident memory
 * after warm-up may grow by at most MAX_GROWTH_MB.
 */

const SECONDS = Number(process.env.SOAK_SECONDS ?? 120);
const RATE = Number(process.env.SOAK_RATE ?? 200);
const MAX_GROWTH_MB = 30;
const token = randomToken();
let relay: Awaited<ReturnType<typeof startFakeTurn>>;
let svc: ServiceProcess;

beforeAll(async () => {
  relay = await startFakeTurn();
  svc = await spawnService(
    {
      TURN_PROVIDER: 'coturn',
      TURN_SECRET: `soak-${randomToken()}`,
      TURN_URLS: `turn:127.0.0.1:${relay.port}`,
      API_TOKENS: token,
      RATE_LIMIT_PER_MINUTE: '1000000',
      RATE_LIMIT_PER_TOKEN_PER_MINUTE: '10000000',
      LOG_LEVEL: 'info',
    },
    await freePortBlock(1),
  );
});
afterAll(async () => {
  await svc?.stop();
  await relay?.close();
});

const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

it(`${RATE} requests/s for ${SECONDS} s: no errors, bounded memory`, async () => {
  const pool = new Pool(svc.url, { connections: 16 });
  const samples: { t: number; mb: number }[] = [];
  const statuses = new Map<number | string, number>();
  let sent = 0;
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  const sampler = setInterval(
    () =>
      samples.push({ t: (performance.now() - started) / 1000, mb: rssMb(svc.child.pid as number) }),
    1000,
  );

  // Each tick tops the count up to where the fixed rate says it should be (no drift).
  while (performance.now() - started < SECONDS * 1000) {
    const due = Math.floor(((performance.now() - started) / 1000) * RATE);
    for (; sent < due; sent++) {
      const p = pool
        .request({
          method: 'GET',
          path: `/v1/ice-servers?user=user${sent % 500}`,
          headers: { authorization: `Bearer ${token}` },
        })
        .then(async (res) => {
          await res.body.text();
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        })
        .catch((err: Error) => {
          statuses.set(err.message, (statuses.get(err.message) ?? 0) + 1);
        })
        .finally(() => pending.delete(p));
      pending.add(p);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(pending);
  clearInterval(sampler);
  await pool.close();

  const warm = samples.filter((s) => s.t >= SECONDS * 0.2);
  const early = median(warm.slice(0, Math.max(1, Math.floor(warm.length / 4))).map((s) => s.mb));
  const late = median(warm.slice(-Math.max(1, Math.floor(warm.length / 4))).map((s) => s.mb));
  const peak = Math.max(...samples.map((s) => s.mb));
  recordOutcome(
    `Soak: ${RATE} requests/s for ${SECONDS} s, coturn provider, auth, info logs, metrics`,
    sent,
    `${[...statuses].map(([s, n]) => `${n}× ${s}`).join(', ')}; RSS ${early.toFixed(0)} MB after warm-up → ${late.toFixed(0)} MB at the end (peak ${peak.toFixed(0)} MB; bound +${MAX_GROWTH_MB} MB)`,
  );
  expect([...statuses.keys()]).toEqual([200]);
  expect(statuses.get(200)).toBe(sent);
  expect(late - early).toBeLessThan(MAX_GROWTH_MB);
});
