import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../service/providers/errors';
import { type MeteredOptions, MeteredProvider } from '../../service/providers/metered';
import { type FakeFault, type FakeMetered, startFakeMetered } from '../helpers/fake-metered';

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

function make(opts: Partial<MeteredOptions> = {}) {
  provider = new MeteredProvider({
    apiUrl: fake.url,
    ...(opts.credentialApiKey === undefined ? { secretKey: fake.secretKey } : {}),
    credentialTtl: 3600,
    timeoutMs: TIMEOUT_MS,
    failureBackoffMs: 0,
    ...opts,
  });
  return provider;
}

/** A clock shared by the provider and the fake, so credentials expire on both sides alike. */
function clock() {
  const c = { t: Date.now() };
  fake.now = () => c.t;
  return c;
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected an UpstreamError');
    },
    (e: unknown) => {
      expect(e).toBeInstanceOf(UpstreamError);
      return e as UpstreamError;
    },
  );

/** Waits until background work (refresh, deletes) has reached the fake. */
const settle = () => new Promise((r) => setTimeout(r, 50));

describe('MeteredProvider with a secret key (mint mode)', () => {
  it('mints one labelled credential with the TTL asked for, lists its ICE servers, returns them with the remaining lifetime', async () => {
    const p = make({ credentialTtl: 7200, label: 'turnkey-prod' });
    const result = await p.getIceServers('alice');
    expect(fake.mints).toBe(1);
    expect(fake.lists).toBe(1);
    expect(fake.mintBodies[0]).toEqual({ expiryInSeconds: 7200, label: 'turnkey-prod' });
    expect(fake.lastIssued?.label).toBe('turnkey-prod');
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
    const c = clock();
    const p = make({ now: () => c.t, credentialTtl: 1000 });
    const first = await p.getIceServers('alice');
    c.t += 499_000;
    expect((await p.getIceServers('alice')).iceServers).toEqual(first.iceServers);
    expect(fake.mints).toBe(1);

    c.t += 2_000; // past half-life: this call is served from cache and starts one refresh
    fake.delayMs = 100;
    const during = await Promise.all([p.getIceServers('alice'), p.getIceServers('bob')]);
    expect(during[0].iceServers).toEqual(first.iceServers);
    await expect.poll(() => fake.lists, { timeout: 2000 }).toBe(2);
    expect(fake.mints).toBe(2);
    await settle();
    const after = await p.getIceServers('alice');
    expect(after.iceServers[1]?.username).not.toBe(first.iceServers[1]?.username);
    expect(after.ttl).toBe(1000);
  });

  it('mints anew, waiting for it, once the cached credential has expired', async () => {
    const c = clock();
    const p = make({ now: () => c.t, credentialTtl: 120 });
    const first = await p.getIceServers('alice');
    c.t += 121_000;
    const second = await p.getIceServers('alice');
    expect(fake.mints).toBe(2);
    expect(second.iceServers[1]?.username).not.toBe(first.iceServers[1]?.username);
  });

  it('keeps the minted credential when the list fails, retrying only the list: exactly one mint after recovery', async () => {
    const p = make();
    fake.fail.list = 'server_error';
    for (let i = 0; i < 4; i++) await failure(p.getIceServers('alice'));
    expect(fake.lists).toBe(4);
    fake.fail.list = undefined;
    const ok = await p.getIceServers('alice');
    expect(fake.mints).toBe(1);
    expect(fake.credentials.size).toBe(1);
    expect(ok.iceServers[1]?.username).toBe(fake.lastIssued?.username);
  });

  it('mints again when the list kept failing for half the kept credential’s life, deleting the never-served one', async () => {
    const c = clock();
    const p = make({ now: () => c.t, credentialTtl: 600 });
    fake.fail.list = 'server_error';
    await failure(p.getIceServers('alice'));
    const stale = fake.lastIssued?.username;
    c.t += 301_000;
    await failure(p.getIceServers('alice'));
    expect(fake.mints).toBe(2);
    // Nobody was ever handed it, so it need not wait for its expiry.
    await expect.poll(() => fake.deleted).toEqual([stale]);
    fake.fail.list = undefined;
    const ok = await p.getIceServers('alice');
    expect(fake.mints).toBe(2);
    expect(ok.iceServers[1]?.username).toBe(fake.lastIssued?.username);
    expect(fake.live().map((x) => x.username)).toEqual([fake.lastIssued?.username]);
  });

  it('deletes its expired credentials, one refresh after they expire, and never the one being served', async () => {
    const c = clock();
    const p = make({ now: () => c.t, credentialTtl: 120 });
    const served: string[] = [];
    const serve = async () => {
      const r = await p.getIceServers('alice');
      await settle(); // let the background refresh and the deletes run
      const now = (await p.getIceServers('alice')).iceServers[1]?.username as string;
      served.push(now);
      // What is handed out is still live on the account.
      expect(fake.live().map((x) => x.username)).toContain(now);
      expect(fake.deleted).not.toContain(now);
      return r;
    };
    await serve(); // A, minted at 0 s, expires at 120 s
    for (let i = 0; i < 8; i++) {
      c.t += 31_000;
      await serve();
    }
    // Minted at 0, 62, 124, 186 and 248 s (each at the last one's half-life), each living
    // 120 s: by 248 s the first three have expired, each deleted at the refresh after.
    expect(fake.mints).toBe(5);
    const minted = [...fake.credentials.keys()];
    await expect.poll(() => fake.deleted).toEqual(minted.slice(0, 3));
    expect(fake.live().length).toBeLessThanOrEqual(3);
    expect(new Set(served).size).toBeGreaterThan(1);
  });

  it('refuses and deletes a minted credential without the expiry asked for (Metered: none = never expires)', async () => {
    const p = make({ credentialTtl: 600 });
    for (const fault of ['no_expiry', 'other_expiry'] as const) {
      fake.fail.mint = fault;
      const err = await failure(p.getIceServers('alice'));
      expect(err.failure).toBe('bad_response');
      expect(err.message).toMatch(
        fault === 'no_expiry'
          ? /asked 600 s, got none, which Metered documents as never expiring/
          : /asked 600 s, got 1200/,
      );
      const made = fake.lastIssued?.username as string;
      await expect.poll(() => fake.deleted).toContain(made);
    }
    fake.fail.mint = undefined;
    await p.getIceServers('alice');
    expect(fake.live()).toHaveLength(1);
  });

  it('refuses a list whose TURN entries belong to another credential', async () => {
    const p = make();
    fake.fail.list = 'other_username';
    const err = await failure(p.getIceServers('alice'));
    expect(err.message).toMatch(/username is not the credential just minted/);
  });

  it('passes TURN_REGION to the list call, and no region when none is set', async () => {
    const europe = await make({ region: 'europe' }).getIceServers('alice');
    expect(fake.listQueries[0]?.get('region')).toBe('europe');
    expect(europe.iceServers[1]?.urls).toEqual(['turn:europe.relay.metered.example:80']);
    await provider?.close();
    await make().getIceServers('alice');
    expect(fake.listQueries[1]?.has('region')).toBe(false);
  });
});

describe('MeteredProvider with a credential apiKey (list-only mode)', () => {
  it('lists that credential’s ICE servers and mints or deletes nothing', async () => {
    const c = clock();
    const dashboard = fake.addCredential();
    const p = make({ credentialApiKey: dashboard.apiKey, now: () => c.t, credentialTtl: 120 });
    const result = await p.getIceServers('alice');
    expect(result.iceServers[1]).toMatchObject({
      username: dashboard.username,
      credential: dashboard.password,
    });
    await p.getIceServers('bob');
    expect(fake.lists).toBe(1);
    c.t += 61_000;
    await p.getIceServers('alice');
    await expect.poll(() => fake.lists).toBe(2);
    expect(fake.mints).toBe(0);
    expect(fake.deletes).toBe(0);
    expect(fake.credentials.size).toBe(1);
  });

  it('names TURN_CREDENTIAL_API_KEY and where the apiKey is found when Metered refuses it (e.g. the secret key put there)', async () => {
    const p = make({ credentialApiKey: fake.secretKey });
    const err = await failure(p.getIceServers('alice'));
    expect(err.failure).toBe('auth');
    expect(err.message).toMatch(
      /^Metered refused the credential apiKey \(HTTP 401, Metered says "Invalid API Key"\) while listing ICE servers: set TURN_CREDENTIAL_API_KEY \(turnkey:meteredCredentialApiKey\) to the API Key of one credential on Metered's Dashboard → TURN Server/,
    );
    expect(err.message).toMatch(/secret key does not work here; it belongs in TURN_API_KEY/);
    expect(err.message).not.toContain(fake.secretKey);
  });

  it('refuses to be built with both keys or none', () => {
    expect(
      () =>
        new MeteredProvider({
          apiUrl: fake.url,
          secretKey: 'a',
          credentialApiKey: 'b',
          credentialTtl: 60,
        }),
    ).toThrow(/exactly one of secretKey .* and credentialApiKey/);
    expect(() => new MeteredProvider({ apiUrl: fake.url, credentialTtl: 60 })).toThrow(
      /exactly one/,
    );
  });
});

describe('MeteredProvider upstream failures', () => {
  type Case = [
    string,
    () => void,
    UpstreamError['failure'],
    RegExp,
    /** Retry-After the error asks for, when it is known. */
    number?,
  ];
  const on = (op: 'mint' | 'list', fault: FakeFault) => () => {
    fake.fail[op] = fault;
  };
  const cases: Case[] = [
    [
      'wrong secret key (400 {message})',
      () => {
        fake.secretKey = 'sk_rotated_on_the_dashboard';
      },
      'auth',
      /^Metered refused the secret key \(HTTP 400, Metered says "Invalid request\. App not found"\) while minting a credential: set TURN_API_KEY \(turnkey:meteredApiKey\) to the Secret Key from Metered's Dashboard → Developers\. A credential's apiKey cannot mint; it belongs in TURN_CREDENTIAL_API_KEY/,
    ],
    [
      'not subscribed (400) on mint',
      on('mint', 'not_subscribed'),
      'auth',
      /Metered says the account has no TURN plan \(HTTP 400, Metered says "Invalid request\. Not subscribed to any turn server plan"\) while minting/,
    ],
    [
      'mint 500 with an event id',
      on('mint', 'server_error'),
      'unavailable',
      /^Metered API is failing \(HTTP 500, Metered says "Internal server error occurred\. If the problem persists, contact support" \(event id [0-9a-f]{16}\)\) while minting a credential$/,
    ],
    [
      'mint 429 with Retry-After',
      on('mint', 'rate_limited'),
      'unavailable',
      /^Metered API is rate-limiting turnkey \(HTTP 429, Metered says "Too many requests"\) while minting/,
      7,
    ],
    [
      'mint 502 from a proxy (HTML)',
      on('mint', 'bad_gateway'),
      'unavailable',
      /^Metered API is failing \(HTTP 502\) while minting a credential$/,
    ],
    [
      'mint hangs',
      on('mint', 'hang'),
      'unavailable',
      new RegExp(`did not answer within ${TIMEOUT_MS} ms while minting`),
    ],
    [
      'mint body trickles',
      on('mint', 'slow_body'),
      'unavailable',
      new RegExp(`did not answer within ${TIMEOUT_MS} ms`),
    ],
    ['mint connection reset', on('mint', 'reset'), 'unavailable', /could not be reached/],
    ['mint invalid JSON', on('mint', 'invalid_json'), 'bad_response', /invalid JSON while minting/],
    ['mint wrong shape', on('mint', 'wrong_shape'), 'bad_response', /unexpected credential/],
    [
      'list 401 for the minted apiKey',
      on('list', 'unauthorized'),
      'auth',
      /^Metered refused the apiKey of the credential turnkey had just minted \(HTTP 401, Metered says "Invalid API Key"\) while listing ICE servers; the secret key was accepted/,
    ],
    [
      'list 500',
      on('list', 'server_error'),
      'unavailable',
      /HTTP 500.*event id [0-9a-f]{16}.*while listing ICE servers$/,
    ],
    ['list 429', on('list', 'rate_limited'), 'unavailable', /HTTP 429.*while listing/, 7],
    ['list hangs', on('list', 'hang'), 'unavailable', /did not answer within .* while listing/],
    ['list invalid JSON', on('list', 'invalid_json'), 'bad_response', /invalid JSON while listing/],
    [
      'list without credentials',
      on('list', 'list_without_credentials'),
      'bad_response',
      /unusable ICE server list: TURN entry 0 lacks username\/credential/,
    ],
  ];

  it.each(cases)(
    '%s: the right kind of error, naming the fix, in bounded time, without a secret; then recovery',
    async (_name, inject, kind, message, retryAfter) => {
      const key = fake.secretKey;
      const p = make();
      inject();
      const started = performance.now();
      const err = await failure(p.getIceServers('alice'));
      expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + 1500);
      expect(err.failure).toBe(kind);
      expect(err.message).toMatch(message);
      if (retryAfter !== undefined) expect(err.retryAfterSeconds).toBe(retryAfter);
      for (const s of [key, fake.lastIssued?.apiKey, fake.lastIssued?.password]) {
        if (s) expect(err.message).not.toContain(s);
      }
      expect(await p.checkReady()).toMatchObject({ ready: false });

      fake.secretKey = key;
      fake.fail = {};
      const c = clock();
      c.t += 10_000; // past any Retry-After
      await provider?.close();
      const again = make({ now: () => c.t });
      const ok = await again.getIceServers('alice');
      expect(ok.iceServers[1]?.username).toBe(fake.lastIssued?.username);
      expect(await again.checkReady()).toMatchObject({ ready: true });
    },
  );

  it("cuts the keys out of Metered's own message", async () => {
    fake.fail.mint = 'echoes_key';
    const err = await failure(make().getIceServers('alice'));
    expect(err.message).toMatch(/Metered says "Invalid secretKey \[redacted\]"/);
    expect(err.message).not.toContain(fake.secretKey);

    fake.fail.mint = undefined;
    fake.fail.list = 'echoes_key';
    const listed = await failure(make().getIceServers('alice'));
    expect(listed.message).toMatch(/Metered says "Invalid API Key \[redacted\]"/);
    expect(listed.message).not.toContain(fake.lastIssued?.apiKey);
  });

  it('mints anew after Metered refused the minted apiKey, deleting that unusable credential', async () => {
    const p = make();
    fake.fail.list = 'unauthorized';
    await failure(p.getIceServers('alice'));
    const refused = fake.lastIssued?.username;
    await expect.poll(() => fake.deleted).toEqual([refused]);
    fake.fail.list = undefined;
    await p.getIceServers('alice');
    expect(fake.mints).toBe(2);
  });

  it('fails fast during the backoff after a failure instead of hammering the upstream', async () => {
    const p = make({ failureBackoffMs: 60_000 });
    fake.fail.mint = 'server_error';
    await expect(p.getIceServers('alice')).rejects.toThrow(/HTTP 500/);
    const calls = fake.mints;
    const again = await failure(p.getIceServers('alice'));
    expect(again.message).toMatch(/HTTP 500/);
    expect(again.retryAfterSeconds).toBeGreaterThan(50);
    expect(again.retryAfterSeconds).toBeLessThanOrEqual(60);
    expect(fake.mints).toBe(calls);
  });

  it("honours Metered's Retry-After: no call before it has passed, and says how long is left", async () => {
    const c = clock();
    const p = make({ now: () => c.t });
    fake.fail.mint = 'rate_limited';
    fake.retryAfterSeconds = 30;
    expect((await failure(p.getIceServers('alice'))).retryAfterSeconds).toBe(30);
    c.t += 20_000;
    expect((await failure(p.getIceServers('alice'))).retryAfterSeconds).toBe(10);
    expect(fake.mints).toBe(1);
    fake.fail.mint = undefined;
    c.t += 11_000;
    await p.getIceServers('alice');
    expect(fake.mints).toBe(2);
  });

  it('keeps serving a still-valid credential when a background refresh fails', async () => {
    const c = clock();
    const p = make({ now: () => c.t, credentialTtl: 1000 });
    const first = await p.getIceServers('alice');
    fake.fail.mint = 'server_error';
    c.t += 600_000;
    await p.getIceServers('alice');
    await expect.poll(() => fake.mints).toBe(2);
    await settle();
    const still = await p.getIceServers('alice');
    expect(still.iceServers).toEqual(first.iceServers);
    const ready = await p.checkReady();
    expect(ready.ready).toBe(true);
    expect(ready.detail).toMatch(/last refresh failed: Metered API is failing \(HTTP 500/);
  });
});
