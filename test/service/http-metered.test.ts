import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeMetered, startFakeMetered } from '../helpers/fake-metered';
import { get, randomToken, startTestService } from '../helpers/service';

const TOKEN = randomToken();
let fake: FakeMetered;
let svc: Awaited<ReturnType<typeof startTestService>> | undefined;

beforeEach(async () => {
  fake = await startFakeMetered();
});
afterEach(async () => {
  await svc?.service.close();
  svc = undefined;
  await fake.close();
});

async function start(env: Record<string, string> = {}) {
  svc = await startTestService({
    TURN_PROVIDER: 'metered',
    TURN_API_URL: fake.url,
    TURN_API_KEY: fake.secretKey,
    TURN_API_TIMEOUT_MS: '300',
    API_TOKENS: TOKEN,
    ...env,
  });
  return svc;
}

const ice = (s: { url: string }) => get(`${s.url}/v1/ice-servers?user=alice`, { token: TOKEN });

describe('service with provider=metered', () => {
  it('never shows the key in any form Metered echoes it: lower-cased, percent-encoded, in a URL', async () => {
    // Characters a query string must encode (+ / =), and letters whose case can change.
    fake.secretKey = `Key+With/Slash=${randomToken().toUpperCase()}`;
    fake.fail.mint = 'echoes_key_variants';
    const s = await start();
    const res = await ice(s);
    expect(res.status).toBe(502);
    expect(res.json().message).toMatch(
      /^Metered refused the secret key \(HTTP 400, Metered says "Invalid key \[redacted\] in https:\/\/app\.metered\.live\/api\/v1\/turn\/credential/,
    );
    const ready = await get(`${s.url}/readyz`, { token: TOKEN });
    const key = fake.secretKey;
    const forms = [
      key,
      key.toLowerCase(),
      encodeURIComponent(key),
      encodeURIComponent(key).toLowerCase(),
      new URLSearchParams({ k: key }).toString().slice(2),
      key.slice(-24),
      key.slice(-24).toLowerCase(),
    ];
    for (const text of [res.text, ready.text, s.logs.text()])
      for (const form of forms) expect(text).not.toContain(form);
  });

  it('hands out the ICE servers Metered lists for the minted credential, labelled as configured', async () => {
    const s = await start({ TURN_LABEL: 'turnkey-prod' });
    const res = await ice(s);
    expect(res.status).toBe(200);
    const body = res.json() as { iceServers: { urls: string[]; username?: string }[]; ttl: number };
    expect(body.iceServers.map((x) => x.urls[0])).toEqual([
      'stun:stun.relay.metered.example:80',
      'turn:global.relay.metered.example:80',
      'turn:global.relay.metered.example:80?transport=tcp',
      'turns:global.relay.metered.example:443?transport=tcp',
    ]);
    expect(body.iceServers[1]?.username).toBe(fake.lastIssued?.username);
    expect(fake.lastIssued?.label).toBe('turnkey-prod');
    expect((await get(`${s.url}/readyz`, { token: TOKEN })).json()).toMatchObject({
      status: 'ready',
      provider: 'metered',
    });
  });

  it('passes TURN_REGION to Metered', async () => {
    const s = await start({ TURN_REGION: 'asia_east' });
    const res = await ice(s);
    expect(fake.listQueries[0]?.get('region')).toBe('asia_east');
    expect(JSON.stringify(res.json())).toContain('turn:asia_east.relay.metered.example:80');
  });

  it('with TURN_CREDENTIAL_API_KEY, hands out that credential’s servers and mints nothing', async () => {
    const dashboard = fake.addCredential();
    const s = await start({ TURN_API_KEY: '', TURN_CREDENTIAL_API_KEY: dashboard.apiKey });
    const res = await ice(s);
    expect(res.status).toBe(200);
    expect((res.json().iceServers as { username?: string }[])[1]?.username).toBe(
      dashboard.username,
    );
    expect(fake.mints).toBe(0);
    expect(fake.credentials.size).toBe(1);
    expect(s.logs.text()).not.toContain(dashboard.apiKey);
  });

  it.each([
    [
      'a wrong secret key',
      502,
      'upstream_error',
      /Metered refused the secret key \(HTTP 400, Metered says "Invalid request\. App not found"\).*set TURN_API_KEY/,
      () => {
        fake.secretKey = 'sk_rotated';
      },
    ],
    [
      'the minted apiKey refused by the list',
      502,
      'upstream_error',
      /refused the apiKey of the credential turnkey had just minted \(HTTP 401/,
      () => {
        fake.fail.list = 'unauthorized';
      },
    ],
    [
      'a 500 with an event id',
      503,
      'upstream_unavailable',
      /HTTP 500, Metered says "Internal server error.*" \(event id [0-9a-f]{16}\)/,
      () => {
        fake.fail.mint = 'server_error';
      },
    ],
    [
      'a 429',
      503,
      'upstream_unavailable',
      /is rate-limiting turnkey \(HTTP 429/,
      () => {
        fake.fail.mint = 'rate_limited';
      },
      '7', // Metered's own Retry-After
    ],
    [
      'a 502 page from a proxy',
      503,
      'upstream_unavailable',
      /HTTP 502\) while listing/,
      () => {
        fake.fail.list = 'bad_gateway';
      },
    ],
    [
      'invalid JSON',
      502,
      'upstream_error',
      /invalid JSON/,
      () => {
        fake.fail.mint = 'invalid_json';
      },
    ],
    [
      'a credential that would never expire',
      502,
      'upstream_error',
      /never expiring/,
      () => {
        fake.fail.mint = 'no_expiry';
      },
    ],
    [
      'a hang',
      503,
      'upstream_unavailable',
      /did not answer within 300 ms/,
      () => {
        fake.fail.mint = 'hang';
      },
    ],
    [
      'a reset',
      503,
      'upstream_unavailable',
      /could not be reached/,
      () => {
        fake.fail.list = 'reset';
      },
    ],
  ] as [string, number, string, RegExp, () => void, string?][])(
    '%s → %i %s with the fix named and logged, then recovery',
    async (_name, status, code, message, inject, retryAfter = '2') => {
      const key = fake.secretKey;
      const s = await start();
      inject();
      const started = performance.now();
      const res = await ice(s);
      expect(performance.now() - started).toBeLessThan(2000);
      expect(res.status).toBe(status);
      expect(res.json()).toEqual({ error: code, message: expect.stringMatching(message) });
      // 503: try again later, and when; 502: an operator has to act first.
      expect(res.headers['retry-after']).toBe(status === 503 ? retryAfter : undefined);
      expect((await get(`${s.url}/readyz`)).status).toBe(503);
      // Metered's own words reach the log.
      const failed = s.logs.parsed().find((l) => l.msg === 'request failed');
      expect(String(failed?.detail)).toMatch(message);

      fake.secretKey = key;
      fake.fail = {};
      const wait = Number(res.headers['retry-after'] ?? 2);
      await new Promise((r) => setTimeout(r, wait * 1000 + 100)); // past the back-off
      expect((await ice(s)).status).toBe(200);
      expect((await get(`${s.url}/readyz`)).status).toBe(200);

      const metrics = (await get(`${s.service.metricsUrl}/metrics`)).text;
      expect(metrics).toMatch(
        /turnkey_upstream_errors_total\{operation="(mint|list)",reason="[a-z0-9_A-Z]+"\} [1-9]/,
      );
      const text = s.logs.text();
      for (const secret of [
        key,
        TOKEN,
        ...[...fake.credentials.values()].flatMap((c) => [c.password, c.apiKey]),
      ]) {
        expect(text).not.toContain(secret);
        expect(metrics).not.toContain(secret);
        expect(res.text).not.toContain(secret);
      }
    },
  );
});

describe('graceful shutdown', () => {
  it('lets an in-flight request finish, then refuses new connections', async () => {
    const slow = await start({ TURN_API_TIMEOUT_MS: '5000' });
    fake.delayMs = 300;
    const url = `${slow.url}/v1/ice-servers?user=alice`;
    const inflight = get(url, { token: TOKEN });
    await expect.poll(() => fake.mints).toBe(1);
    const closed = slow.service.close();
    svc = undefined;
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(res.json().iceServers).toHaveLength(4);
    // Otherwise the now-idle keep-alive socket holds close() open until the client gives up.
    expect(res.headers.connection).toBe('close');
    await closed;
    await expect(get(url, { token: TOKEN })).rejects.toThrow(/ECONNREFUSED/);
  });
});
