import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocate } from '../../service/turn/client';
import { type RunningCoturn, startCoturn } from '../helpers/coturn';
import { get, randomToken, startTestService } from '../helpers/service';

/**
 * A fleet's credential service against two real turnservers on loopback (regions eu-west and
 * us-east, one secret): it probes both with a real Allocate, hands out the hinted region's
 * relay first, stops handing out one that is down and hands it out again once it is back.
 * Allocate needs no peer, so loopback proves the probe; relaying is proven in the lab.
 */

const secret = randomBytes(32).toString('hex');
const token = randomToken();
const urls = (port: number) => [
  `turn:127.0.0.1:${port}?transport=udp`,
  `turn:127.0.0.1:${port}?transport=tcp`,
];

describe('a fleet of two real relays', () => {
  let eu: RunningCoturn;
  let us: RunningCoturn;
  let svc: Awaited<ReturnType<typeof startTestService>>;

  beforeAll(async () => {
    eu = await startCoturn({ env: { TURN_SECRET: secret } });
    us = await startCoturn({ env: { TURN_SECRET: secret } });
    svc = await startTestService({
      TURN_PROVIDER: 'coturn',
      TURN_SECRET: secret,
      API_TOKENS: token,
      TURN_RELAYS: JSON.stringify([
        { region: 'eu-west', urls: urls(eu.port) },
        { region: 'us-east', urls: urls(us.port) },
      ]),
      TURN_DEFAULT_REGION: 'eu-west',
      RATE_LIMIT_PER_MINUTE: '100000',
      RATE_LIMIT_PER_TOKEN_PER_MINUTE: '10000000',
    });
  });
  afterAll(async () => {
    await svc?.service.close();
    await eu?.stop();
    await us?.stop();
  });

  const iceServers = async (query: string) => {
    const res = await get(`${svc.url}/v1/ice-servers?user=alice${query}`, { token });
    return { status: res.status, body: res.json() as Record<string, unknown> };
  };
  /** The ports of the TURN URIs handed out, in order. */
  const ports = async (query = '') => {
    const { status, body } = await iceServers(query);
    if (status !== 200) return status;
    const turn = (body.iceServers as { urls: string[]; username?: string }[]).find(
      (s) => s.username,
    );
    return [...new Set(turn?.urls.map((u) => Number(/:(\d+)\?/.exec(u)?.[1])))];
  };

  it('hands out the hinted region’s relay first, the other as fallback, and its credential allocates on both', async () => {
    expect(await ports()).toEqual([eu.port, us.port]);
    expect(await ports('&region=us-east')).toEqual([us.port, eu.port]);
    const { body } = await iceServers('&region=us-east');
    const turn = (body.iceServers as { username: string; credential: string }[])[1];
    for (const port of [us.port, eu.port]) {
      const a = await allocate({
        host: '127.0.0.1',
        port,
        username: turn?.username as string,
        credential: turn?.credential as string,
      });
      await a.release();
    }
    // The probes were real allocations with the service's own credential, on both relays.
    for (const relay of [eu, us])
      await expect.poll(() => relay.log()).toMatch(/turnkey:readyz:[0-9a-f]+/);
  });

  it('stops handing out a relay that is down within 15 s, and hands it out again once it is back', async () => {
    const port = us.port;
    await us.stop();
    const stopped = Date.now();
    await expect
      .poll(() => ports('&region=us-east'), { timeout: 15_000, interval: 250 })
      .toEqual([eu.port]);
    expect(Date.now() - stopped).toBeLessThan(15_000);
    expect(await ports('&relays=all')).toEqual([eu.port]);
    const ready = await get(`${svc.url}/readyz`, { token });
    expect(ready.status).toBe(200);
    expect(ready.json().detail).toMatch(
      /^1 of 2 relays pass .*us-east turn:127\.0\.0\.1:\d+\?transport=udp: failing: TURN allocation on .* failed/,
    );
    expect(svc.logs.text()).toMatch(/"region":"us-east".*"healthy":false.*relay health/);

    us = await startCoturn({ env: { TURN_SECRET: secret, TURN_PORT: String(port) } });
    await expect
      .poll(() => ports('&region=us-east'), { timeout: 15_000, interval: 250 })
      .toEqual([port, eu.port]);
    expect(svc.logs.text()).not.toContain(secret);
  });

  it('answers 503 when no relay passes, and 400 for a region it has no relay in', async () => {
    expect((await iceServers('&region=mars')).status).toBe(400);
    expect((await iceServers('&region=mars')).body.message).toMatch(
      /region "mars" has no relay: use one of eu-west, us-east/,
    );
    const euPort = eu.port;
    await eu.stop();
    await us.stop();
    await expect
      .poll(async () => (await iceServers('')).status, { timeout: 15_000, interval: 250 })
      .toBe(503);
    expect((await get(`${svc.url}/readyz`)).status).toBe(503);
    eu = await startCoturn({ env: { TURN_SECRET: secret, TURN_PORT: String(euPort) } });
  });
});
