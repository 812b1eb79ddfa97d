import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRAINING_REASON, type FakeTurn, startFakeTurn } from '../helpers/fake-turn';
import { get, randomToken, startTestService } from '../helpers/service';

/**
 * A fleet (TURN_RELAYS) whose relay starts draining (Coturn after SIGUSR1, being replaced):
 * out of /v1/ice-servers from the first probe that sees it, named as draining in /readyz and
 * the log while the service stays ready on the other relay, and back once it allocates again.
 */

const SECRET = `fleet-draining-${randomToken()}`;
const TOKEN = randomToken();
/** The fleet's probe interval here (5 s in production). */
const PROBE_MS = 500;
/** Less than a second interval: a relay dropped only at its second draining probe fails the bound. */
const MARGIN_MS = 400;

let eu: FakeTurn;
let us: FakeTurn;
let fleet: Awaited<ReturnType<typeof startTestService>>;

beforeAll(async () => {
  eu = await startFakeTurn({ secret: SECRET });
  us = await startFakeTurn({ secret: SECRET });
  fleet = await startTestService(
    {
      TURN_PROVIDER: 'coturn',
      TURN_SECRET: SECRET,
      API_TOKENS: TOKEN,
      RATE_LIMIT_PER_MINUTE: '100000',
      TURN_RELAYS: JSON.stringify([
        { region: 'eu-west', urls: [`turn:127.0.0.1:${eu.port}?transport=udp`] },
        { region: 'us-east', urls: [`turn:127.0.0.1:${us.port}?transport=udp`] },
      ]),
    },
    { relayProbeIntervalMs: PROBE_MS },
  );
});
afterAll(async () => {
  await fleet?.service.close();
  await eu?.close();
  await us?.close();
});

/** The relay ports in the TURN URIs handed out, nearest first. */
async function handedOut(query = ''): Promise<number[]> {
  const res = await get(`${fleet.url}/v1/ice-servers?user=alice${query}`, { token: TOKEN });
  expect(res.status).toBe(200);
  const servers = res.json().iceServers as { urls: string[]; username?: string }[];
  const turn = servers.find((s) => s.username);
  return [...new Set(turn?.urls.map((u) => Number(u.split(':')[2]?.split('?')[0])))];
}

/** Resolves just after `relay` answered a probe, so the next one is a whole interval away. */
async function justProbed(relay: FakeTurn): Promise<void> {
  const seen = relay.allocations() + relay.refusals();
  await expect
    .poll(() => relay.allocations() + relay.refusals(), { timeout: PROBE_MS * 3, interval: 5 })
    .toBeGreaterThan(seen);
}

const healthLines = (region: string) =>
  fleet.logs.parsed().filter((l) => l.msg === 'relay health' && l.region === region);

describe('a fleet relay that starts draining', () => {
  it('is out from its first draining probe, the other still handed out and /readyz 200; back once it allocates', async () => {
    expect(await handedOut()).toEqual([eu.port, us.port]);

    await justProbed(eu);
    eu.refuseAllocate({ code: 403, reason: DRAINING_REASON });
    await expect
      .poll(() => handedOut(), { timeout: PROBE_MS + MARGIN_MS, interval: 25 })
      .toEqual([us.port]);
    // Dropped at the first refusal, not after some count of them.
    expect(eu.refusals()).toBe(1);
    expect(await handedOut('&region=eu-west')).toEqual([us.port]);
    expect(await handedOut('&relays=all')).toEqual([us.port]);

    const short = await get(`${fleet.url}/readyz`);
    expect(short.status).toBe(200);
    expect(short.json()).toEqual({ status: 'ready', cause: 'ready' });
    const full = await get(`${fleet.url}/readyz`, { token: TOKEN });
    expect(full.status).toBe(200);
    const { detail } = full.json();
    expect(detail).toMatch(/^1 of 2 relays pass their last probe; /);
    expect(detail).toContain(
      `eu-west turn:127.0.0.1:${eu.port}?transport=udp: draining: TURN allocation on 127.0.0.1:${eu.port}/udp failed: allocate refused: the relay is draining (403 ${DRAINING_REASON})`,
    );
    expect(detail).toContain(`us-east turn:127.0.0.1:${us.port}?transport=udp: ok: `);
    expect(healthLines('eu-west').at(-1)).toMatchObject({
      level: 'warn',
      healthy: false,
      draining: true,
      detail: expect.stringMatching(/the relay is draining .*use another relay/),
    });

    // Its replacement allocates: handed out again at the next probe.
    eu.refuseAllocate(undefined);
    await expect
      .poll(() => handedOut(), { timeout: PROBE_MS + MARGIN_MS, interval: 25 })
      .toEqual([eu.port, us.port]);
    expect(healthLines('eu-west').at(-1)).toMatchObject({ healthy: true, draining: false });
    expect(healthLines('eu-west').map((l) => [l.healthy, l.draining])).toEqual([
      [true, false],
      [false, true],
      [true, false],
    ]);
  });
});
