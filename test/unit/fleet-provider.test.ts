import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../service/config';
import { createProvider } from '../../service/providers/create';
import { InvalidInputError, UpstreamError } from '../../service/providers/errors';
import { FleetProvider, type FleetRelay, type RelayHealth } from '../../service/providers/fleet';
import type { ReadyState as FullReadyState } from '../../service/providers/types';

/** What a fleet's probe reports per relay (the fleet derives its own cause). */
type ReadyState = Pick<FullReadyState, 'ready' | 'detail'>;

/** Fake probes (each relay's verdict set by the test) and fake timers (the probe schedule). */

const relay = (region: string, host: string): FleetRelay => ({
  region,
  urls: [`turn:${host}:3478?transport=udp`, `turn:${host}:3478?transport=tcp`],
});
const EU1 = relay('eu-west', 'eu1.example.com');
const EU2 = relay('eu-west', 'eu2.example.com');
const US = relay('us-east', 'us.example.com');
const AP = relay('ap', 'ap.example.com');
const NOW_MS = 1_700_000_000_000;

/** Relays by their first URI: the provider probes its own copies. */
const key = (r: FleetRelay) => r.urls[0] as string;
let up: Map<string, boolean>;
let probes: FleetRelay[];
let changes: RelayHealth[];
let providers: FleetProvider[];

function fleet(
  relays: FleetRelay[],
  extra: Partial<ConstructorParameters<typeof FleetProvider>[0]> = {},
) {
  const p = new FleetProvider({
    secret: 'fleet-secret',
    relays,
    credentialTtl: 3600,
    now: () => NOW_MS,
    probeIntervalMs: 5000,
    probe: async (r): Promise<ReadyState> => {
      probes.push(r);
      return up.get(key(r)) === false
        ? { ready: false, detail: 'no answer' }
        : { ready: true, detail: 'allocated' };
    },
    onHealthChange: (h) => changes.push(h),
    ...extra,
  });
  providers.push(p);
  return p;
}

/** The relay hosts in the TURN URIs handed out, in order. */
async function handedOut(
  p: FleetProvider,
  opts: Parameters<FleetProvider['getIceServers']>[1] = {},
) {
  const r = await p.getIceServers('alice', opts);
  const turn = r.iceServers.find((s) => s.username);
  return [...new Set(turn?.urls.map((u) => u.split(':')[1]))];
}

beforeEach(() => {
  vi.useFakeTimers();
  up = new Map();
  probes = [];
  changes = [];
  providers = [];
});
afterEach(async () => {
  for (const p of providers) await p.close();
  vi.useRealTimers();
});

describe('FleetProvider: which relays it hands out', () => {
  it('by default its own region’s relay first, plus one fallback in another region', async () => {
    const p = fleet([EU1, EU2, US, AP]);
    expect(await handedOut(p)).toEqual(['eu1.example.com', 'us.example.com']);
    expect(await handedOut(fleet([EU1, US, AP], { defaultRegion: 'us-east' }))).toEqual([
      'us.example.com',
      'eu1.example.com',
    ]);
  });

  it('with a region hint, that region’s relay first', async () => {
    const p = fleet([EU1, US, AP]);
    expect(await handedOut(p, { region: 'ap' })).toEqual(['ap.example.com', 'eu1.example.com']);
    expect(await handedOut(p, { region: 'us-east' })).toEqual([
      'us.example.com',
      'eu1.example.com',
    ]);
  });

  it('with relays=all, every healthy relay, the hinted region’s first', async () => {
    up.set(key(EU2), false);
    const p = fleet([EU1, EU2, US, AP]);
    expect(await handedOut(p, { relays: 'all', region: 'us-east' })).toEqual([
      'us.example.com',
      'eu1.example.com',
      'ap.example.com',
    ]);
  });

  it('one credential for all of them, signed with the shared secret, STUN from the same hosts', async () => {
    const r = await fleet([EU1, US]).getIceServers('alice', { ttl: 600 });
    expect(r.iceServers[0]).toEqual({
      urls: ['stun:eu1.example.com:3478', 'stun:us.example.com:3478'],
    });
    const turn = r.iceServers[1];
    const username = `${NOW_MS / 1000 + 600}:alice`;
    expect(turn?.username).toBe(username);
    expect(turn?.credential).toBe(
      createHmac('sha1', 'fleet-secret').update(username).digest('base64'),
    );
    expect(r.ttl).toBe(600);
  });

  it('never a relay that failed its last probe: the fallback then comes from the same region, or there is none', async () => {
    up.set(key(US), false);
    expect(await handedOut(fleet([EU1, EU2, US]))).toEqual(['eu1.example.com', 'eu2.example.com']);
    expect(await handedOut(fleet([EU1, US]))).toEqual(['eu1.example.com']);
    // The hinted region is down: the nearest healthy one elsewhere.
    expect(await handedOut(fleet([EU1, US, AP]), { region: 'us-east' })).toEqual([
      'eu1.example.com',
      'ap.example.com',
    ]);
  });

  it('drops a relay at the first failed probe and hands it out again once a probe passes', async () => {
    const p = fleet([EU1, US]);
    expect(await handedOut(p, { region: 'us-east' })).toEqual([
      'us.example.com',
      'eu1.example.com',
    ]);
    up.set(key(US), false);
    await vi.advanceTimersByTimeAsync(5000);
    expect(await handedOut(p, { region: 'us-east' })).toEqual(['eu1.example.com']);
    expect(changes.at(-1)).toMatchObject({
      region: 'us-east',
      healthy: false,
      detail: 'no answer',
    });
    up.set(key(US), true);
    await vi.advanceTimersByTimeAsync(5000);
    expect(await handedOut(p, { region: 'us-east' })).toEqual([
      'us.example.com',
      'eu1.example.com',
    ]);
    expect(changes.map((c) => [c.region, c.healthy])).toEqual([
      ['eu-west', true],
      ['us-east', true],
      ['us-east', false],
      ['us-east', true],
    ]);
  });

  it('a draining relay: out at its first draining probe, named draining, and each change reported', async () => {
    const verdicts: FullReadyState[] = [
      { ready: false, cause: 'relay_draining', detail: 'the relay is draining' },
      // Drained: the old container has exited.
      { ready: false, cause: 'relay_unreachable', detail: 'no answer' },
      { ready: true, cause: 'ready', detail: 'allocated' },
    ];
    let next: FullReadyState = { ready: true, cause: 'ready', detail: 'allocated' };
    const p = fleet([EU1, US], {
      probe: async (r) =>
        key(r) === key(US) ? next : { ready: true, cause: 'ready', detail: 'allocated' },
    });
    expect(await handedOut(p, { region: 'us-east' })).toEqual([
      'us.example.com',
      'eu1.example.com',
    ]);
    const seen: unknown[] = [];
    for (const v of verdicts) {
      next = v;
      await vi.advanceTimersByTimeAsync(5000);
      const { detail } = await p.checkReady();
      seen.push([detail.split('; ')[2] as string, await handedOut(p, { region: 'us-east' })]);
    }
    expect(seen).toEqual([
      [
        'us-east turn:us.example.com:3478?transport=udp: draining: the relay is draining',
        ['eu1.example.com'],
      ],
      ['us-east turn:us.example.com:3478?transport=udp: failing: no answer', ['eu1.example.com']],
      [
        'us-east turn:us.example.com:3478?transport=udp: ok: allocated',
        ['us.example.com', 'eu1.example.com'],
      ],
    ]);
    expect(
      changes.filter((c) => c.region === 'us-east').map((c) => [c.healthy, c.draining]),
    ).toEqual([
      [true, false],
      [false, true],
      [false, false],
      [true, false],
    ]);
  });

  it('probes every relay once per interval, and never one twice at a time', async () => {
    let release: () => void = () => {};
    const slow = new Promise<ReadyState>((r) => {
      release = () => r({ ready: true, detail: 'late' });
    });
    const p = fleet([EU1, US], {
      probe: (r) => {
        probes.push(r);
        return key(r) === key(US) ? slow : Promise.resolve({ ready: true, detail: 'ok' });
      },
    });
    await vi.advanceTimersByTimeAsync(15_000);
    expect(probes.filter((r) => key(r) === key(EU1))).toHaveLength(4);
    expect(probes.filter((r) => key(r) === key(US))).toHaveLength(1);
    release();
    await vi.advanceTimersByTimeAsync(5000);
    expect(probes.filter((r) => key(r) === key(US))).toHaveLength(2);
    await p.close();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(probes.filter((r) => key(r) === key(EU1))).toHaveLength(5);
  });

  it('waits for the first probes before handing anything out', async () => {
    let answer: (s: ReadyState) => void = () => {};
    const p = fleet([EU1], {
      probe: () =>
        new Promise((r) => {
          answer = r;
        }),
    });
    let done = false;
    const pending = p.getIceServers('alice').then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(100);
    expect(done).toBe(false);
    answer({ ready: true, detail: 'ok' });
    await pending;
    expect(done).toBe(true);
  });

  it('answers 503-class (unavailable, Retry-After) when no relay passes, and /readyz says which failed', async () => {
    up.set(key(EU1), false);
    up.set(key(US), false);
    const p = fleet([EU1, US]);
    const err = await p.getIceServers('alice').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({
      failure: 'unavailable',
      reason: 'no_healthy_relay',
      retryAfterSeconds: 5,
    });
    const ready = await p.checkReady();
    expect(ready.ready).toBe(false);
    expect(ready.detail).toMatch(
      /^0 of 2 relays pass .*eu-west turn:eu1\.example\.com:3478\?transport=udp: failing: no answer/,
    );
    up.set(key(US), true);
    await vi.advanceTimersByTimeAsync(5000);
    expect(await p.checkReady()).toMatchObject({ ready: true });
  });

  it('refuses a region it has no relay in, naming the ones it has', async () => {
    const p = fleet([EU1, US]);
    const err = await p.getIceServers('alice', { region: 'mars' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as InvalidInputError).message).toBe(
      'region "mars" has no relay: use one of eu-west, us-east (or leave it out for eu-west)',
    );
  });
});

describe('FleetProvider.useSecret (TURN_SECRET_FILE rotated under a running service)', () => {
  it('signs with the new secret, for relay sets handed out before too, and probes every relay again at once', async () => {
    const p = fleet([EU1, US]);
    await p.getIceServers('alice');
    expect(probes).toHaveLength(2);
    p.useSecret('rotated-secret');
    // No timer has fired: the rotation itself started the round.
    await vi.advanceTimersByTimeAsync(0);
    expect(probes).toHaveLength(4);
    const turn = (await p.getIceServers('alice')).iceServers[1];
    expect(turn?.credential).toBe(
      createHmac('sha1', 'rotated-secret')
        .update(turn?.username as string)
        .digest('base64'),
    );
    expect(() => p.useSecret('')).toThrow(/non-empty secret/);
  });
});

describe('TURN_RELAYS and TURN_DEFAULT_REGION', () => {
  const base = { TURN_PROVIDER: 'coturn', TURN_SECRET: 's'.repeat(32), API_TOKENS: 't'.repeat(40) };
  const RELAYS = JSON.stringify([
    {
      region: 'eu-west',
      urls: ['turn:eu.example.com:3478?transport=udp'],
      probeUrl: 'turn:127.0.0.1:3478',
    },
    { region: 'us-east', urls: ['turn:us.example.com:3478?transport=udp'] },
  ]);

  it('makes the service a fleet provider defaulting to its region', async () => {
    vi.useRealTimers();
    // Loopback only: the provider starts probing at once.
    const relays = RELAYS.replace(/(eu|us)\.example\.com:3478/g, '127.0.0.1:9');
    const config = loadConfig({ ...base, TURN_RELAYS: relays, TURN_DEFAULT_REGION: 'us-east' });
    expect(config.providerConfig).toMatchObject({
      provider: 'coturn',
      fleet: {
        defaultRegion: 'us-east',
        relays: [{ region: 'eu-west', probeUrl: 'turn:127.0.0.1:3478' }, { region: 'us-east' }],
      },
    });
    const p = createProvider(config.providerConfig);
    expect(p).toBeInstanceOf(FleetProvider);
    await p.close();
  });

  it.each([
    [
      { TURN_RELAYS: '[{region:eu}]' },
      /^TURN_RELAYS must be a JSON list of relays, e\.g\. \[\{"region":"eu-west"/,
    ],
    [{ TURN_RELAYS: '[]' }, /^TURN_RELAYS must be a non-empty JSON list/],
    [
      { TURN_RELAYS: '[{"region":"EU","urls":["turn:a:1"]}]' },
      /^TURN_RELAYS\[0\]\.region must be a region label/,
    ],
    [
      { TURN_RELAYS: '[{"region":"eu","urls":["http://a"]}]' },
      /^TURN_RELAYS\[0\]\.urls\[0\]: "http:\/\/a" is not a STUN\/TURN URI/,
    ],
    [
      { TURN_RELAYS: '[{"region":"eu","urls":["turns:a:5349"]}]' },
      /^TURN_RELAYS\[0\]\.urls needs at least one plain turn: URI/,
    ],
    [
      { TURN_RELAYS: '[{"region":"eu","url":["turn:a"]}]' },
      /^TURN_RELAYS\[0\]\.url is not a relay field: use region, urls, probeUrl/,
    ],
    [
      { TURN_RELAYS: RELAYS, TURN_DEFAULT_REGION: 'ap' },
      /^TURN_DEFAULT_REGION "ap" has no relay in TURN_RELAYS: use one of eu-west, us-east/,
    ],
    [{ TURN_RELAYS: RELAYS, TURN_URLS: 'turn:x:3478' }, /^TURN_URLS and TURN_RELAYS are both set/],
    [
      { TURN_URLS: 'turn:x:3478', TURN_DEFAULT_REGION: 'eu' },
      /^TURN_DEFAULT_REGION is set without TURN_RELAYS/,
    ],
  ])('refuses %j with a line naming the variable', (env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });
});
