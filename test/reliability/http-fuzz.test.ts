import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeTurn } from '../helpers/fake-turn';
import { rawRequest } from '../helpers/raw-http';
import { get, randomToken, startTestService } from '../helpers/service';
import { recordOutcome } from './summary';

/**
 * Generated requests against the real service: every answer is a 4xx or 200 as an oracle
 * predicts from the request's shape, never a 5xx or a dropped connection, and the service
 * keeps answering afterwards.
 */

const SECRET = `fuzz-secret-${randomToken()}`;
const TOKEN = randomToken();
const RUNS = 3000;
let relay: Awaited<ReturnType<typeof startFakeTurn>>;
let svc: Awaited<ReturnType<typeof startTestService>>;
let port: number;

beforeAll(async () => {
  relay = await startFakeTurn();
  svc = await startTestService({
    TURN_PROVIDER: 'coturn',
    TURN_SECRET: SECRET,
    TURN_URLS: `turn:127.0.0.1:${relay.port}`,
    API_TOKENS: TOKEN,
    RATE_LIMIT_PER_MINUTE: '1000000',
    RATE_LIMIT_PER_TOKEN_PER_MINUTE: '10000000',
    LOG_LEVEL: 'warn',
  });
  port = Number(new URL(svc.url).port);
});
afterAll(async () => {
  await svc?.service.close();
  await relay?.close();
});

const VALID_USER = /^[A-Za-z0-9._~@+-]{1,128}$/;
const ERROR_CODES = [
  'invalid_request',
  'unauthorized',
  'not_found',
  'method_not_allowed',
  'payload_too_large',
  'unsupported_media_type',
  'uri_too_long',
  'headers_too_large',
  'request_timeout',
  'rate_limited',
];

/** Every error, wherever it arises, has the API's shape: {"error": <code>, "message": <text>}. */
function expectErrorShape(body: string) {
  const parsed = JSON.parse(body) as Record<string, unknown>;
  expect(Object.keys(parsed).sort()).toEqual(['error', 'message']);
  expect(ERROR_CODES).toContain(parsed.error);
}
const ROUTES = ['/v1/ice-servers', '/healthz', '/readyz'];

const userArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._~@+-]{1,20}$/),
  fc.string({ maxLength: 200, unit: 'grapheme' }),
  fc.constantFrom(
    '',
    'a:b',
    ' ',
    '%',
    'x'.repeat(128),
    'x'.repeat(129),
    '\u0000',
    '../etc',
    '<script>',
  ),
);
const ttlArb = fc.option(
  fc.oneof(fc.integer({ min: -10, max: 10_000_000 }).map(String), fc.string({ maxLength: 12 })),
  { nil: undefined },
);
// Mostly valid tokens, so most cases get past auth and exercise the input checks.
const authArb = fc.oneof(
  { arbitrary: fc.constant(`Bearer ${TOKEN}`), weight: 8 },
  fc.constant(`bearer ${TOKEN}`),
  fc.constant(undefined),
  fc.constant(`Bearer ${TOKEN}x`),
  fc.string({ maxLength: 60 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
);

/** A well-formed GET to the credential endpoint, and the status it must get. */
const rarely = fc.oneof({ arbitrary: fc.constant(false), weight: 6 }, fc.constant(true));
const iceRequest = fc
  .record({
    user: fc.option(userArb, { nil: undefined, freq: 10 }),
    ttl: ttlArb,
    auth: authArb,
    queryToken: rarely,
    extraUser: rarely,
  })
  .map((r) => {
    const query = new URLSearchParams();
    if (r.user !== undefined) query.append('user', r.user);
    if (r.extraUser && r.user !== undefined) query.append('user', 'second');
    if (r.ttl !== undefined) query.append('ttl', r.ttl);
    if (r.queryToken) query.append('token', TOKEN);
    const authorized =
      (r.auth === `Bearer ${TOKEN}` || r.auth === `bearer ${TOKEN}`) && !r.queryToken;
    const ttlOk = r.ttl === undefined || (/^\d{1,9}$/.test(r.ttl) && Number(r.ttl) >= 60);
    const userOk = r.user !== undefined && VALID_USER.test(r.user) && !r.extraUser;
    const expected = !authorized ? 401 : !userOk || !ttlOk ? 400 : 200;
    const headers = [
      `GET /v1/ice-servers?${query} HTTP/1.1`,
      'Host: 127.0.0.1',
      'Connection: close',
    ];
    if (r.auth !== undefined) headers.push(`Authorization: ${r.auth}`);
    return { raw: `${headers.join('\r\n')}\r\n\r\n`, expected };
  });

/** Any method, path, header and body bytes; the status must be a 4xx (or 200 for a plain GET/HEAD of a route). */
const anyRequest = fc
  .record({
    method: fc.oneof(
      fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE'),
      fc.stringMatching(/^[A-Z]{1,10}$/),
    ),
    path: fc.oneof(
      fc.constantFrom(...ROUTES),
      fc.webPath(),
      fc.constantFrom(
        '/v1/ice-servers/',
        // On the metrics listener only: here a 404 like any unknown path.
        '/metrics',
        '//v1/ice-servers',
        '/V1/ICE-SERVERS',
        '/v1/%69ce-servers',
        '/%00',
        '/..%2f..%2fetc/passwd',
        '/%ZZ',
        `/${'a'.repeat(3000)}`,
      ),
    ),
    query: fc.oneof(
      fc.constant(''),
      fc.webQueryParameters().map((q) => `?${q}`),
      fc.constantFrom('?user=%FF%FE', '?user=a&user=b', '?ttl=1e9', '?%'),
    ),
    contentType: fc.option(
      fc.constantFrom(
        'application/json',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/json; charset=utf-16',
      ),
      { nil: undefined },
    ),
    body: fc.option(fc.uint8Array({ maxLength: 3000 }), { nil: undefined }),
    auth: authArb,
  })
  .map((r) => {
    const lines = [
      `${r.method} ${r.path}${r.query} HTTP/1.1`,
      'Host: 127.0.0.1',
      'Connection: close',
    ];
    if (r.auth !== undefined) lines.push(`Authorization: ${r.auth}`);
    if (r.contentType) lines.push(`Content-Type: ${r.contentType}`);
    const body = r.body ? Buffer.from(r.body) : Buffer.alloc(0);
    if (r.body) lines.push(`Content-Length: ${body.length}`);
    return {
      raw: Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]),
      method: r.method,
      path: r.path,
    };
  });

describe('generated requests', () => {
  it(`${RUNS} requests to the credential endpoint each get exactly the status the oracle predicts`, async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(iceRequest, async ({ raw, expected }) => {
        const res = await rawRequest(port, raw);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect(res.status).toBe(expected);
        if (expected !== 200) expectErrorShape(res.body);
        expect(res.body).not.toContain(SECRET);
      }),
      { numRuns: RUNS },
    );
    recordOutcome(
      'HTTP API: generated credential requests (user, ttl, auth, query token)',
      RUNS,
      `exact status each time; ${[...statuses].map(([s, n]) => `${n}× ${s}`).join(', ')}`,
    );
  });

  it(`${RUNS} requests with any method, path, query, content type and body get no 5xx`, async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(anyRequest, async ({ raw, method, path }) => {
        const res = await rawRequest(port, raw);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect(res.status).toBeLessThan(500);
        // The router matches the percent-decoded path (/v1/%69ce-servers is /v1/ice-servers).
        const decoded = (() => {
          try {
            return decodeURIComponent(path);
          } catch {
            return path;
          }
        })();
        const known = ROUTES.includes(decoded);
        if (res.status !== 200) {
          expect(res.status).toBeGreaterThanOrEqual(400);
          if (method !== 'HEAD') expectErrorShape(res.body);
        }
        if (res.status === 200) expect(known && (method === 'GET' || method === 'HEAD')).toBe(true);
        if (!known && res.status !== 400 && res.status !== 414 && res.status !== 431)
          expect([404, 405, 413, 415]).toContain(res.status);
        expect(res.body).not.toContain(SECRET);
        expect(res.body).not.toContain(TOKEN);
      }),
      { numRuns: RUNS },
    );
    recordOutcome(
      'HTTP API: any method, path, encoding, content type, body up to 3 KB',
      RUNS,
      `no 5xx, no dropped connection; ${[...statuses]
        .sort()
        .map(([s, n]) => `${n}× ${s}`)
        .join(', ')}`,
    );
  });

  it('malformed requests on the raw socket get a 400 or 431 in the API error shape, not a crash', async () => {
    const garbage = [
      'GET\r\n\r\n',
      'GET / HTTP/9.9\r\n\r\n',
      '\u0000\u0001\u0002 / HTTP/1.1\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n',
      `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`,
      'GET /%ZZ HTTP/1.1\r\nHost: a\r\n\r\n',
    ];
    for (const g of garbage) {
      const res = await rawRequest(port, g, { halfClose: true });
      expect([400, 431]).toContain(res.status);
      expectErrorShape(res.body);
    }
    recordOutcome(
      'HTTP: malformed request lines, headers and escapes on the raw socket',
      garbage.length,
      "each refused with 400 or 431 in the API's JSON error shape",
    );
  });

  it('still answers afterwards', async () => {
    expect((await get(`${svc.url}/healthz`)).status).toBe(200);
    expect((await get(`${svc.url}/v1/ice-servers?user=after`, { token: TOKEN })).status).toBe(200);
    expect(svc.logs.text()).not.toContain(SECRET);
    expect(svc.logs.text()).not.toContain(TOKEN);
  });
});
