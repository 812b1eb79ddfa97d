import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeTurn, unusedUdpPort } from '../helpers/fake-turn';
import { get, randomToken, startTestService } from '../helpers/service';

const SECRET = `turn-secret-${randomToken()}`;
const TOKEN = randomToken();
const OLD_TOKEN = randomToken();
const RATE = 5;

let relay: Awaited<ReturnType<typeof startFakeTurn>>;
let svc: Awaited<ReturnType<typeof startTestService>>;
const issued: string[] = [];

beforeAll(async () => {
  relay = await startFakeTurn({ secret: SECRET });
  svc = await startTestService({
    TURN_PROVIDER: 'coturn',
    TURN_SECRET: SECRET,
    TURN_URLS: `turn:127.0.0.1:${relay.port}?transport=udp,turn:127.0.0.1:${relay.port}?transport=tcp`,
    API_TOKENS: `${TOKEN},${OLD_TOKEN}`,
    TURN_TTL: '3600',
    RATE_LIMIT_PER_MINUTE: String(RATE),
  });
});
afterAll(async () => {
  await svc?.service.close();
  await relay?.close();
});

const iceUrl = (query: string) => `${svc.url}/v1/ice-servers${query}`;

describe('GET /v1/ice-servers', () => {
  it('returns ICE servers whose credential Coturn would accept, with ttl and expiresAt', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await get(iceUrl('?user=alice'), { token: TOKEN });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json() as {
      iceServers: { urls: string[]; username?: string; credential?: string }[];
      ttl: number;
      expiresAt: string;
    };
    expect(Object.keys(body).sort()).toEqual(['expiresAt', 'iceServers', 'ttl']);
    expect(body.ttl).toBe(3600);
    expect(body.iceServers[0]).toEqual({ urls: [`stun:127.0.0.1:${relay.port}`] });
    const turn = body.iceServers[1];
    const [expiry, user] = (turn?.username ?? '').split(':');
    expect(user).toBe('alice');
    expect(Number(expiry)).toBeGreaterThanOrEqual(before + 3600);
    expect(Number(expiry)).toBeLessThanOrEqual(before + 3601);
    expect(body.expiresAt).toBe(new Date(Number(expiry) * 1000).toISOString());
    expect(turn?.credential).toBe(
      createHmac('sha1', SECRET)
        .update(turn?.username ?? '')
        .digest('base64'),
    );
    issued.push(turn?.credential ?? '');
  });

  it('accepts every configured token (rotation) and caps ttl', async () => {
    const res = await get(iceUrl('?user=bob&ttl=999999'), { token: OLD_TOKEN });
    expect(res.status).toBe(200);
    expect(res.json().ttl).toBe(3600);
    const short = await get(iceUrl('?user=bob&ttl=120'), { token: TOKEN });
    expect(short.json().ttl).toBe(120);
    issued.push(JSON.stringify(short.json().iceServers));
  });

  it.each([
    ['no header', {}, /missing Authorization header/],
    ['wrong token', { token: randomToken() }, /invalid API token/],
    [
      'not Bearer',
      { headers: { authorization: `Basic ${TOKEN}` } },
      /malformed Authorization header/,
    ],
    ['empty Bearer', { headers: { authorization: 'Bearer ' } }, /malformed Authorization header/],
  ])('401 for %s', async (_name, opts, message) => {
    const res = await get(iceUrl('?user=alice'), opts);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(res.json()).toEqual({ error: 'unauthorized', message: expect.stringMatching(message) });
  });

  it('refuses a token in the query string even when it is valid', async () => {
    const res = await get(iceUrl(`?user=alice&token=${TOKEN}`));
    expect(res.status).toBe(401);
    expect(res.json().message).toMatch(/not accepted in the query string/);
    const both = await get(iceUrl(`?user=alice&access_token=${TOKEN}`), { token: TOKEN });
    expect(both.status).toBe(401);
  });

  it('checks the token before looking at the request', async () => {
    const res = await get(iceUrl('?user=bad:user'));
    expect(res.status).toBe(401);
  });

  it.each([
    ['', 'user', /user is required/],
    ['?user=', 'user', /user is required/],
    ['?user=a%3Ab', 'user', /no colons/],
    ['?user=a&user=b', 'user', /given once/],
    [`?user=${'x'.repeat(129)}`, 'user', /too long/],
    ['?user=alice&ttl=abc', 'ttl', /ttl must be a whole number/],
    ['?user=alice&ttl=-5', 'ttl', /ttl must be a whole number/],
    ['?user=alice&ttl=30', 'ttl', /at least 60/],
  ])('400 for %s naming %s', async (query, field, message) => {
    const res = await get(iceUrl(query), { token: TOKEN });
    expect(res.status).toBe(400);
    expect(res.json()).toEqual({
      error: 'invalid_request',
      message: expect.stringMatching(message),
    });
    expect(res.json().message).toContain(field);
  });

  it('rate-limits per token and user with Retry-After, leaving other users alone', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < RATE + 2; i++)
      statuses.push((await get(iceUrl('?user=limited'), { token: TOKEN })).status);
    expect(statuses.slice(0, RATE)).toEqual(Array(RATE).fill(200));
    const limited = await get(iceUrl('?user=limited'), { token: TOKEN });
    expect(limited.status).toBe(429);
    expect(limited.json().error).toBe('rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await get(iceUrl('?user=other'), { token: TOKEN })).status).toBe(200);
  });
});

describe('other routes and methods', () => {
  it('404 as JSON for unknown paths', async () => {
    const res = await get(`${svc.url}/v2/nope?user=x`);
    expect(res.status).toBe(404);
    expect(res.json()).toEqual({
      error: 'not_found',
      message: 'no route for GET /v2/nope; see GET /v1/ice-servers',
    });
  });

  it('405 with Allow for other methods on known paths', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await get(iceUrl('?user=alice'), { token: TOKEN, method });
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe('GET, HEAD');
      expect(res.json().error).toBe('method_not_allowed');
    }
  });

  it('413 for an oversized body', async () => {
    const res = await get(iceUrl('?user=alice'), {
      token: TOKEN,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(4096) }),
    });
    expect(res.status).toBe(413);
    expect(res.json().error).toBe('payload_too_large');
  });

  it('/healthz is always ok', async () => {
    expect((await get(`${svc.url}/healthz`)).json()).toEqual({ status: 'ok' });
  });

  it('/readyz allocates on the TURN server with a credential the service signed', async () => {
    const res = await get(`${svc.url}/readyz`, { token: TOKEN });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ready', provider: 'coturn' });
    expect(res.json().detail).toMatch(
      new RegExp(`TURN allocation on 127.0.0.1:${relay.port}/udp .* succeeded`),
    );
  });

  it('/readyz reuses its verdict for a few seconds instead of allocating per request', async () => {
    const before = relay.allocations();
    const answers = await Promise.all(Array.from({ length: 20 }, () => get(`${svc.url}/readyz`)));
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(relay.allocations() - before).toBeLessThanOrEqual(1);
    expect(relay.allocations()).toBeGreaterThanOrEqual(1);
  });

  it('/metrics, on its own listener, counts requests by route and status and credentials by provider', async () => {
    const res = await get(`${svc.service.metricsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.text).toMatch(
      /turnkey_http_requests_total\{route="\/v1\/ice-servers",method="GET",status="200"\} \d+/,
    );
    expect(res.text).toMatch(
      /turnkey_http_requests_total\{route="\/v1\/ice-servers",method="GET",status="401"\} [1-9]/,
    );
    expect(res.text).toMatch(/turnkey_credentials_issued_total\{provider="coturn"\} [1-9]/);
    expect(res.text).toMatch(/turnkey_process_cpu_seconds_total/);
  });

  it('serves no metrics on the API listener, and nothing but /metrics on the metrics listener', async () => {
    expect(new URL(svc.service.metricsUrl).port).not.toBe(new URL(svc.url).port);
    const onApi = await get(`${svc.url}/metrics`);
    expect(onApi.status).toBe(404);
    expect(onApi.text).not.toMatch(/turnkey_/);
    const other = await get(`${svc.service.metricsUrl}/v1/ice-servers?user=alice`, {
      token: TOKEN,
    });
    expect(other.status).toBe(404);
    expect(other.json()).toMatchObject({ error: 'not_found' });
  });

  it('echoes a sane X-Request-Id and replaces an unsafe one', async () => {
    const ok = await get(`${svc.url}/healthz`, { headers: { 'x-request-id': 'abc-123' } });
    expect(ok.headers['x-request-id']).toBe('abc-123');
    const bad = await get(`${svc.url}/healthz`, { headers: { 'x-request-id': 'a b"<>' } });
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('logs', () => {
  it('are one JSON line per request with request id, path without query, status', async () => {
    await get(iceUrl('?user=logcheck'), {
      token: TOKEN,
      headers: { 'x-request-id': 'log-check-1' },
    });
    const line = svc.logs.parsed().find((l) => l.reqId === 'log-check-1');
    expect(line).toMatchObject({
      level: 'info',
      method: 'GET',
      path: '/v1/ice-servers',
      status: 200,
      msg: 'request',
    });
    expect(typeof line?.ms).toBe('number');
  });

  it('never contain the TURN secret, an API token or a minted credential', async () => {
    // A refused query-string token must not be logged either.
    await get(iceUrl(`?user=alice&token=${TOKEN}`));
    const text = svc.logs.text();
    expect(svc.logs.lines.length).toBeGreaterThan(20);
    for (const secret of [SECRET, TOKEN, OLD_TOKEN, ...issued.filter(Boolean)]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toContain('user=alice');
  });
});

describe('/readyz with TURN_PROBE_URL', () => {
  it('probes that address instead of the public TURN URI', async () => {
    const probed = await startTestService({
      TURN_PROVIDER: 'coturn',
      TURN_SECRET: SECRET,
      TURN_URLS: 'turn:relay.invalid:3478',
      TURN_PROBE_URL: `turn:127.0.0.1:${relay.port}`,
      API_TOKENS: TOKEN,
    });
    try {
      const res = await get(`${probed.url}/readyz`, { token: TOKEN });
      expect(res.status).toBe(200);
      expect(res.json().detail).toMatch(
        new RegExp(`TURN allocation on 127.0.0.1:${relay.port}/udp .* succeeded`),
      );
    } finally {
      await probed.service.close();
    }
  });
});

describe("/readyz when the relay refuses the service's credentials", () => {
  it('answers 503 naming a secret mismatch', async () => {
    const other = await startTestService({
      TURN_PROVIDER: 'coturn',
      TURN_SECRET: `another-${SECRET}`,
      TURN_URLS: `turn:127.0.0.1:${relay.port}`,
      API_TOKENS: TOKEN,
    });
    try {
      const res = await get(`${other.url}/readyz`, { token: TOKEN });
      expect(res.status).toBe(503);
      expect(res.json().detail).toMatch(/allocate refused \(401 Unauthorized\): .*another secret/);
      expect(res.text).not.toContain(SECRET);
    } finally {
      await other.service.close();
    }
  });
});

describe('/readyz when Coturn is down', () => {
  it('answers 503 naming the failed probe', async () => {
    const port = await unusedUdpPort();
    const down = await startTestService({
      TURN_PROVIDER: 'coturn',
      TURN_SECRET: SECRET,
      TURN_URLS: `turn:127.0.0.1:${port}`,
      API_TOKENS: TOKEN,
    });
    try {
      const res = await get(`${down.url}/readyz`, { token: TOKEN });
      expect(res.status).toBe(503);
      expect(res.json()).toMatchObject({ status: 'not_ready', provider: 'coturn' });
      expect(res.json().detail).toMatch(
        /TURN allocation on 127.0.0.1:\d+\/udp failed: no answer .*firewall/,
      );
    } finally {
      await down.service.close();
    }
  });
});
