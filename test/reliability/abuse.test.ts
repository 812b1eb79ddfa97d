import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { describe, expect, it } from 'vitest';
import { freePortBlock } from '../helpers/ports';
import { spawnService } from '../helpers/process';
import { randomToken } from '../helpers/service';
import { recordOutcome } from './summary';

/** The service as a real process (the image's bundle) against what a stranger or a slip can do. */

describe('the image run without a certificate (HOST=0.0.0.0, as service/Dockerfile sets it)', () => {
  it('exits 78 with one line naming HOST and the fix, before listening anywhere', async () => {
    const token = randomToken();
    const svc = await spawnService(
      { HOST: '0.0.0.0', TURN_PROVIDER: 'stun', API_TOKENS: token },
      await freePortBlock(1),
      { wait: false },
    );
    // Bounded, so a service that does start fails here instead of at the test timeout.
    const code = await Promise.race([
      svc.exited,
      new Promise<string>((r) => setTimeout(() => r('still running after 10 s'), 10_000)),
    ]);
    await svc.stop();
    expect(code).toBe(78);
    const lines = svc.output().trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(
        /^turnkey: configuration error: HOST=0\.0\.0\.0 listens on every interface, .*set TLS_CERT_FILE and TLS_KEY_FILE to serve HTTPS, or HOST to a loopback or private address/,
      ),
    ]);
    expect(svc.output()).not.toContain(token);
  });
});

/** Resident memory of a process, in MB, from /proc. */
function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return Number(line?.[1] ?? Number.NaN) / 1024;
}

describe('invalid input does not grow the service (STUN-only: no token needed)', () => {
  it('5,000 requests with a 16,000-character invalid user leave memory where it was', async () => {
    const svc = await spawnService({ TURN_PROVIDER: 'stun' }, await freePortBlock(1), {
      output: 'discard',
    });
    const pool = new Pool(svc.url, { connections: 8 });
    try {
      const send = async (user: string) => {
        const res = await pool.request({ method: 'GET', path: `/v1/ice-servers?user=${user}` });
        await res.body.dump();
        return res.statusCode;
      };
      // Warm up (JIT, buffers), so what follows measures what stays.
      for (let i = 0; i < 200; i++) await send(`warm-${i}`);
      const before = rssMb(svc.child.pid as number);
      const COUNT = 5000;
      const statuses = new Map<number, number>();
      for (let i = 0; i < COUNT; i += 50) {
        const batch = await Promise.all(
          Array.from({ length: 50 }, (_, j) =>
            // Distinct per request, as an attacker would make them.
            send(`${String(i + j).padStart(6, '0')}${'x'.repeat(15_994)}`),
          ),
        );
        for (const s of batch) statuses.set(s, (statuses.get(s) ?? 0) + 1);
      }
      await new Promise((r) => setTimeout(r, 1000));
      const grown = rssMb(svc.child.pid as number) - before;
      expect(Object.fromEntries(statuses)).toEqual({ 400: COUNT });
      expect(await send('alice')).toBe(200);
      expect(grown).toBeLessThan(40);
      recordOutcome(
        'Invalid input flood: 16,000-character invalid user ids, distinct each time (STUN-only, no token)',
        COUNT,
        `all 400; resident memory grew ${grown.toFixed(1)} MB (bound 40 MB; ~100 MB before the rate limiter keyed on validated ids)`,
      );
    } finally {
      await pool.close();
      await svc.stop();
    }
  });
});
