import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../service/providers/errors';
import { MeteredProvider } from '../../service/providers/metered';
import { type FakeMetered, type FakeMode, startFakeMetered } from '../helpers/fake-metered';

let fake: FakeMetered;
let provider: MeteredProvider | undefined;
const TIMEOUT_MS = 400;

beforeEach(async () => {
  fake = await startFakeMetered();
});
afterEach(async () => {
  await provider?.close();
  provider = undefined;
  await fake.close();
});

function make(
  opts: { now?: () => number; credentialTtl?: number; failureBackoffMs?: number } = {},
) {
  provider = new MeteredProvider({
    apiUrl: fake.url,
    secretKey: fake.secretKey,
    credentialTtl: opts.credentialTtl ?? 3600,
    timeoutMs: TIMEOUT_MS,
    failureBackoffMs: opts.failureBackoffMs ?? 0,
    ...(opts.now ? { now: opts.now } : {}),
  });
  return provider;
}

describe('MeteredProvider happy path', () => {
  it('mints one credential, lists its ICE servers and returns them with the remaining lifetime', async () => {
    const p = make({ credentialTtl: 7200 });
    const result = await p.getIceServers('alice');
    expect(fake.mints).toBe(1);
    expect(fake.lists).toBe(1);
    expect(fake.mintBodies[0]).toEqual({ expiryInSeconds: 7200, label: 'turnkey' });
    expect(result.iceServers[0]).toEqual({ urls: ['stun:stun.relay.metered.example:80'] });
    expect(result.iceServers[1]).toEqual({
      urls: ['turn:global.relay.metered.example:80'],
      username: fake.lastIssued?.username,
      credential: fake.lastIssued?.password,
    });
    expect(result.iceServers).toHaveLength(4);
    expect(result.ttl).toBeGreaterThan(7190);
    expect(result.ttl).toBeLessThanOrEqual(7200);
    expect(Date.parse(result.expiresAt) - Date.now()).toBeGreaterThan(7190_000);
  });

  it('serves later users from the cache', async () => {
    const p = make();
    const a = await p.getIceServers('alice');
    const b = await p.getIceServers('bob');
    expect(fake.mints).toBe(1);
    expect(b.iceServers).toEqual(a.iceServers);
  });

  it('turns 1,000 concurrent cold requests into exactly one mint', async () => {
    fake.delayMs = 50;
    const p = make();
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => p.getIceServers(`user${i}`)),
    );
    expect(fake.mints).toBe(1);
    expect(fake.lists).toBe(1);
    expect(new Set(results.map((r) => r.iceServers[1]?.username)).size).toBe(1);
  });

  it('refreshes in the background once half the lifetime is gone, still serving the valid one', async () => {
    let now = Date.now();
    const p = make({ now: () => now, credentialTtl: 1000 });
    const first = await p.getIceServers('alice');
    now += 499_000;
    expect((await p.getIceServers('alice')).iceServers).toEqual(first.iceServers);
    expect(fake.mints).toBe(1);

    now += 2_000; // past half-life: this call is served from cache and starts one refresh
    fake.delayMs = 100;
    const during = await Promise.all([p.getIceServers('alice'), p.getIceServers('bob')]);
    expect(during[0].iceServers).toEqual(first.iceServers);
    await expect.poll(() => fake.lists, { timeout: 2000 }).toBe(2);
    expect(fake.mints).toBe(2);
    await new Promise((r) => setTimeout(r, 20));
    const after = await p.getIceServers('alice');
    expect(after.iceServers[1]?.username).not.toBe(first.iceServers[1]?.username);
    expect(after.ttl).toBe(1000);
  });

  it('mints anew, waiting for it, once the cached credential has expired', async () => {
    let now = Date.now();
    const p = make({ now: () => now, credentialTtl: 120 });
    const first = await p.getIceServers('alice');
    now += 121_000;
    const second = await p.getIceServers('alice');
    expect(fake.mints).toBe(2);
    expect(second.iceServers[1]?.username).not.toBe(first.iceServers[1]?.username);
  });
});

describe('MeteredProvider upstream failures', () => {
  const cases: [FakeMode, UpstreamError['failure'], RegExp][] = [
    ['unauthorized', 'auth', /rejected the secret key \(HTTP 401\).*check TURN_API_KEY/],
    ['server_error', 'bad_response', /answered HTTP 500 while minting a credential/],
    ['hang', 'unavailable', new RegExp(`did not answer within ${TIMEOUT_MS} ms`)],
    ['invalid_json', 'bad_response', /invalid JSON/],
    ['slow_body', 'unavailable', new RegExp(`did not answer within ${TIMEOUT_MS} ms`)],
    ['wrong_shape', 'bad_response', /unexpected credential/],
    ['reset', 'unavailable', /could not be reached/],
  ];

  it.each(cases)(
    '%s → %s error in bounded time, without the key, then recovery',
    async (mode, failure, message) => {
      const p = make();
      fake.mode = mode;
      const started = performance.now();
      const err = await p.getIceServers('alice').catch((e: unknown) => e);
      const elapsed = performance.now() - started;
      expect(err).toBeInstanceOf(UpstreamError);
      expect((err as UpstreamError).failure).toBe(failure);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain(fake.secretKey);
      expect(elapsed).toBeLessThan(TIMEOUT_MS + 1500);
      expect(await p.checkReady()).toMatchObject({ ready: false });

      fake.mode = 'ok';
      const ok = await p.getIceServers('alice');
      expect(ok.iceServers[1]?.username).toBe(fake.lastIssued?.username);
      expect(await p.checkReady()).toMatchObject({ ready: true });
    },
  );

  it('rejects a list whose TURN entries lack credentials, which browsers could not use', async () => {
    const p = make();
    fake.mode = 'list_without_credentials';
    const err = await p.getIceServers('alice').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as Error).message).toMatch(
      /unusable ICE server list: TURN entry 0 lacks username\/credential/,
    );
  });

  it('fails fast during the backoff after a failure instead of hammering the upstream', async () => {
    const p = make({ failureBackoffMs: 60_000 });
    fake.mode = 'server_error';
    await expect(p.getIceServers('alice')).rejects.toThrow(/HTTP 500/);
    const calls = fake.mints;
    await expect(p.getIceServers('alice')).rejects.toThrow(/HTTP 500/);
    expect(fake.mints).toBe(calls);
  });

  it('keeps serving a still-valid credential when a background refresh fails', async () => {
    let now = Date.now();
    const p = make({ now: () => now, credentialTtl: 1000 });
    const first = await p.getIceServers('alice');
    fake.mode = 'server_error';
    now += 600_000;
    await p.getIceServers('alice');
    await expect.poll(() => fake.mints).toBe(2);
    await new Promise((r) => setTimeout(r, 20));
    const still = await p.getIceServers('alice');
    expect(still.iceServers).toEqual(first.iceServers);
    const ready = await p.checkReady();
    expect(ready.ready).toBe(true);
    expect(ready.detail).toMatch(/last refresh failed: Metered API answered HTTP 500/);
  });
});
