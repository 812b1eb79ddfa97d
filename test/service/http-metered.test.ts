import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeMetered, startFakeMetered } from '../helpers/fake-metered';
import { get, randomToken, startTestService } from '../helpers/service';

const TOKEN = randomToken();
let fake: FakeMetered;
let svc: Awaited<ReturnType<typeof startTestService>>;

beforeEach(async () => {
  fake = await startFakeMetered();
  svc = await startTestService({
    TURN_PROVIDER: 'metered',
    TURN_API_URL: fake.url,
    TURN_API_KEY: fake.secretKey,
    TURN_API_TIMEOUT_MS: '300',
    API_TOKENS: TOKEN,
  });
});
afterEach(async () => {
  await svc.service.close();
  await fake.close();
});

const ice = () => get(`${svc.url}/v1/ice-servers?user=alice`, { token: TOKEN });

describe('service with provider=metered', () => {
  it('hands out the ICE servers Metered lists for the minted credential', async () => {
    const res = await ice();
    expect(res.status).toBe(200);
    const body = res.json() as { iceServers: { urls: string[]; username?: string }[]; ttl: number };
    expect(body.iceServers.map((s) => s.urls[0])).toEqual([
      'stun:stun.relay.metered.example:80',
      'turn:global.relay.metered.example:80',
      'turn:global.relay.metered.example:80?transport=tcp',
      'turns:global.relay.metered.example:443?transport=tcp',
    ]);
    expect(body.iceServers[1]?.username).toBe(fake.lastIssued?.username);
    expect((await get(`${svc.url}/readyz`)).json()).toMatchObject({
      status: 'ready',
      provider: 'metered',
    });
  });

  it.each([
    ['unauthorized', 502, 'upstream_error', /rejected the secret key.*TURN_API_KEY/],
    ['server_error', 502, 'upstream_error', /HTTP 500/],
    ['invalid_json', 502, 'upstream_error', /invalid JSON/],
    ['hang', 503, 'upstream_unavailable', /did not answer within 300 ms/],
    ['reset', 503, 'upstream_unavailable', /could not be reached/],
  ] as const)('upstream %s → %i %s, then recovery', async (mode, status, code, message) => {
    fake.mode = mode;
    const started = performance.now();
    const res = await ice();
    expect(performance.now() - started).toBeLessThan(2000);
    expect(res.status).toBe(status);
    expect(res.json()).toEqual({ error: code, message: expect.stringMatching(message) });
    if (status === 503) expect(res.headers['retry-after']).toBe('2');
    expect((await get(`${svc.url}/readyz`)).status).toBe(503);

    fake.mode = 'ok';
    await new Promise((r) => setTimeout(r, 2100)); // past the failure backoff
    expect((await ice()).status).toBe(200);
    expect((await get(`${svc.url}/readyz`)).status).toBe(200);

    const metrics = (await get(`${svc.service.metricsUrl}/metrics`)).text;
    expect(metrics).toMatch(
      /turnkey_upstream_errors_total\{operation="mint",reason="[a-z0-9_A-Z]+"\} [1-9]/,
    );
    const text = svc.logs.text();
    expect(text).toContain('request failed');
    for (const secret of [
      fake.secretKey,
      TOKEN,
      fake.lastIssued?.password ?? 'x',
      fake.lastIssued?.apiKey ?? 'x',
    ]) {
      expect(text).not.toContain(secret);
      expect(metrics).not.toContain(secret);
      expect(res.text).not.toContain(secret);
    }
  });
});

describe('graceful shutdown', () => {
  it('lets an in-flight request finish, then refuses new connections', async () => {
    const slow = await startTestService({
      TURN_PROVIDER: 'metered',
      TURN_API_URL: fake.url,
      TURN_API_KEY: fake.secretKey,
      TURN_API_TIMEOUT_MS: '5000',
      API_TOKENS: TOKEN,
    });
    fake.delayMs = 300;
    const url = `${slow.url}/v1/ice-servers?user=alice`;
    const inflight = get(url, { token: TOKEN });
    await expect.poll(() => fake.mints).toBe(1);
    const closed = slow.service.close();
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(res.json().iceServers).toHaveLength(4);
    // Otherwise the now-idle keep-alive socket holds close() open until the client gives up.
    expect(res.headers.connection).toBe('close');
    await closed;
    await expect(get(url, { token: TOKEN })).rejects.toThrow(/ECONNREFUSED/);
  });
});
