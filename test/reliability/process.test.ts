import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FakeFault,
  type FakeMetered,
  type FakeOperation,
  startFakeMetered,
} from '../helpers/fake-metered';
import { startFakeTurn } from '../helpers/fake-turn';
import { freePortBlock } from '../helpers/ports';
import { spawnService } from '../helpers/process';
import { get, randomToken } from '../helpers/service';
import { recordOutcome } from './summary';

/** The service as a real process: what it prints, shows and does under abuse and SIGTERM. */

let relay: Awaited<ReturnType<typeof startFakeTurn>>;
beforeAll(async () => {
  relay = await startFakeTurn();
});
afterAll(async () => relay?.close());

describe('secrets stay out of logs, error bodies, /metrics and the process list', () => {
  it('under valid, invalid and rotated-out requests', async () => {
    const secret = `s3cret${randomToken()}`;
    const current = randomToken();
    const old = randomToken();
    const env = {
      TURN_PROVIDER: 'coturn',
      TURN_SECRET: secret,
      TURN_URLS: `turn:127.0.0.1:${relay.port}`,
      RATE_LIMIT_PER_MINUTE: '1000000',
      RATE_LIMIT_PER_TOKEN_PER_MINUTE: '10000000',
    };

    // During a token rotation both tokens work...
    const both = await spawnService(
      { ...env, API_TOKENS: `${current},${old}` },
      await freePortBlock(1),
    );
    expect((await get(`${both.url}/v1/ice-servers?user=a`, { token: old })).status).toBe(200);
    await both.stop();
    // ...and afterwards only the new one.
    const svc = await spawnService({ ...env, API_TOKENS: current }, await freePortBlock(1));

    const minted: string[] = [];
    const errorBodies: string[] = [];
    const attempts: [string, { token?: string; headers?: Record<string, string> }, number][] = [
      ['?user=alice', { token: current }, 200],
      ['?user=alice', { token: old }, 401],
      ['?user=alice', {}, 401],
      [`?user=alice&token=${current}`, {}, 401],
      [`?user=alice&api_key=${secret}`, { token: current }, 401],
      ['?user=a:b', { token: current }, 400],
      ['?user=alice&ttl=x', { token: current }, 400],
      ['?user=alice', { headers: { authorization: `Basic ${current}` } }, 401],
      ['?user=alice', { token: secret }, 401],
    ];
    const ROUNDS = 60;
    for (let i = 0; i < ROUNDS; i++) {
      for (const [query, opts, status] of attempts) {
        const res = await get(`${svc.url}/v1/ice-servers${query}`, opts);
        expect(res.status).toBe(status);
        if (status === 200)
          minted.push(
            ...(res.json().iceServers as { credential?: string }[]).flatMap((s) =>
              s.credential ? [s.credential] : [],
            ),
          );
        else errorBodies.push(res.text);
      }
    }
    const metrics = (await get(`${svc.metricsUrl}/metrics`)).text;
    expect(metrics).toMatch(/turnkey_credentials_issued_total/);
    const cmdline = readFileSync(`/proc/${svc.child.pid}/cmdline`, 'utf8');
    await svc.stop();

    const secrets = [secret, current, old, ...new Set(minted)];
    expect(minted.length).toBe(ROUNDS);
    for (const s of secrets) {
      expect(svc.output()).not.toContain(s);
      expect(both.output()).not.toContain(s);
      expect(metrics).not.toContain(s);
      expect(cmdline).not.toContain(s);
      for (const body of errorBodies) expect(body).not.toContain(s);
    }
    recordOutcome(
      'Secrets: valid, wrong, rotated-out, query-string and Basic tokens, bad input, against the real process',
      ROUNDS * attempts.length,
      `expected status each time; the TURN secret, both tokens and ${minted.length} minted credentials absent from ${svc.output().split('\n').length} log lines, ${errorBodies.length} error bodies, /metrics and the command line`,
    );
  });
});

describe('a deprecated variable name', () => {
  it('still configures the service, and its log names the replacement', async () => {
    const token = randomToken();
    const svc = await spawnService(
      {
        TURN_PROVIDER: 'coturn',
        TURN_SECRET: `s3cret${randomToken()}`,
        TURN_URL: `turn:127.0.0.1:${relay.port}`,
        API_TOKENS: token,
      },
      await freePortBlock(1),
    );
    try {
      const res = await get(`${svc.url}/v1/ice-servers?user=alice`, { token });
      expect(res.status).toBe(200);
      expect(res.text).toContain(`turn:127.0.0.1:${relay.port}`);
      const warning = svc
        .output()
        .split('\n')
        .find((l) => l.includes('TURN_URL is deprecated'));
      expect(warning, svc.output()).toContain('rename it to TURN_URLS');
      expect(JSON.parse(warning as string).level).toBe('warn');
    } finally {
      await svc.stop();
    }
  });
});

describe('Metered upstream faults under concurrent load', () => {
  let fake: FakeMetered;
  beforeAll(async () => {
    fake = await startFakeMetered();
  });
  afterAll(async () => fake?.close());

  it('answers every request within a bound with a clear error, then recovers', async () => {
    const TIMEOUT_MS = 500;
    const BOUND_MS = TIMEOUT_MS + 1500;
    const CONCURRENCY = 50;
    const token = randomToken();
    // A fresh process per fault, so no credential cached from the last recovery hides it.
    const startMetered = async () =>
      spawnService(
        {
          TURN_PROVIDER: 'metered',
          TURN_API_URL: fake.url,
          TURN_API_KEY: fake.secretKey,
          TURN_API_TIMEOUT_MS: String(TIMEOUT_MS),
          API_TOKENS: token,
          RATE_LIMIT_PER_MINUTE: '1000000',
          RATE_LIMIT_PER_TOKEN_PER_MINUTE: '10000000',
        },
        await freePortBlock(1),
      );
    const batch = (url: string, prefix: string) =>
      Promise.all(
        Array.from({ length: CONCURRENCY }, (_, i) =>
          get(`${url}/v1/ice-servers?user=${prefix}${i}`, { token }),
        ),
      );
    // 5xx, 429 and transport failures are worth retrying (503 + Retry-After); refusals and
    // unusable answers need an operator (502).
    const modes: [FakeOperation, FakeFault, number][] = [
      ['mint', 'hang', 503],
      ['mint', 'slow_body', 503],
      ['mint', 'reset', 503],
      ['mint', 'server_error', 503],
      ['mint', 'rate_limited', 503],
      ['mint', 'invalid_json', 502],
      ['mint', 'wrong_shape', 502],
      ['mint', 'unauthorized', 502],
      ['list', 'server_error', 503],
      ['list', 'hang', 503],
    ];
    fake.retryAfterSeconds = 2;
    let slowest = 0;
    for (const [op, fault, status] of modes) {
      const svc = await startMetered();
      const minted = fake.credentials.size;
      try {
        fake.fail = { [op]: fault };
        const started = performance.now();
        const results = await batch(svc.url, 'u');
        const elapsed = performance.now() - started;
        slowest = Math.max(slowest, elapsed);
        expect(elapsed).toBeLessThan(BOUND_MS);
        for (const r of results) {
          expect(r.status).toBe(status);
          expect(r.json().message).toMatch(/Metered/);
          expect(r.headers['retry-after']).toBe(status === 503 ? '2' : undefined);
          expect(r.text).not.toContain(fake.secretKey);
        }
        fake.fail = {};
        await new Promise((r) => setTimeout(r, 2100)); // the failure backoff
        expect((await batch(svc.url, 'h')).every((r) => r.status === 200)).toBe(true);
        // One credential per round: a failed list keeps its mint, a failed mint made none.
        expect(fake.credentials.size - minted).toBe(1);
      } finally {
        await svc.stop();
      }
      expect(svc.output()).not.toContain(fake.secretKey);
    }
    recordOutcome(
      `Metered faults (${modes.map(([op, f]) => `${op} ${f}`).join(', ')}), ${CONCURRENCY} concurrent requests each`,
      modes.length * CONCURRENCY * 2,
      `every request answered within ${BOUND_MS} ms (slowest batch ${Math.round(slowest)} ms) with 503 + Retry-After or 502 JSON; all ${CONCURRENCY} succeed after the upstream heals, with exactly one credential minted per fault`,
    );
  });
});

describe('SIGTERM under load', () => {
  it('finishes in-flight requests, accepts no new ones, exits 0', async () => {
    const fake = await startFakeMetered();
    const token = randomToken();
    const port = await freePortBlock(1);
    const svc = await spawnService(
      {
        TURN_PROVIDER: 'metered',
        TURN_API_URL: fake.url,
        TURN_API_KEY: fake.secretKey,
        API_TOKENS: token,
        RATE_LIMIT_PER_MINUTE: '1000000',
        RATE_LIMIT_PER_TOKEN_PER_MINUTE: '10000000',
      },
      port,
    );
    try {
      fake.delayMs = 400;
      const IN_FLIGHT = 100;
      const inflight = Array.from({ length: IN_FLIGHT }, (_, i) =>
        get(`${svc.url}/v1/ice-servers?user=u${i}`, { token }),
      );
      await expect.poll(() => fake.mints).toBe(1);
      svc.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 100));
      const refused = await get(`${svc.url}/healthz`).then(
        (r) => r.status,
        (e: Error) => e.message,
      );
      const results = await Promise.all(inflight);
      expect(results.map((r) => r.status)).toEqual(Array(IN_FLIGHT).fill(200));
      expect(String(refused)).toMatch(/ECONNREFUSED|503/);
      expect(await svc.exited).toBe(0);
      expect(svc.output()).toMatch(/shutting down: finishing in-flight requests/);
      recordOutcome(
        'SIGTERM with requests in flight (upstream taking 0.8 s)',
        IN_FLIGHT,
        `all ${IN_FLIGHT} completed with 200; a new request during shutdown refused (${refused}); exit code 0`,
      );
    } finally {
      await svc.stop();
      await fake.close();
    }
  });
});
