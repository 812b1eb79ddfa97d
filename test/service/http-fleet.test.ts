import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, randomToken, startTestService } from '../helpers/service';

/** `region` and `relays` on GET /v1/ice-servers: validated, and harmless where there are no regions. */

const token = randomToken();

describe('GET /v1/ice-servers?region=…&relays=…', () => {
  let fleet: Awaited<ReturnType<typeof startTestService>>;
  let stun: Awaited<ReturnType<typeof startTestService>>;
  beforeAll(async () => {
    fleet = await startTestService({
      TURN_PROVIDER: 'coturn',
      TURN_SECRET: 's'.repeat(40),
      API_TOKENS: token,
      // Loopback ports nothing listens on: every relay fails its probe.
      TURN_RELAYS: JSON.stringify([
        { region: 'eu-west', urls: ['turn:127.0.0.1:9?transport=udp'] },
        { region: 'us-east', urls: ['turn:127.0.0.1:7?transport=udp'] },
      ]),
    });
    stun = await startTestService({ STUN_URLS: 'stun:stun.example.com:3478', API_TOKENS: token });
  });
  afterAll(async () => {
    await fleet?.service.close();
    await stun?.service.close();
  });

  it.each([
    [
      'region=EU',
      'region',
      /region must be a region label of lowercase letters, digits and '-', e\.g\. region=eu-west/,
    ],
    ['region=eu-west&region=us-east', 'region', /region must be given once/],
    ['region=mars', 'region', /region "mars" has no relay: use one of eu-west, us-east/],
    ['relays=some', 'relays', /relays must be all \(every healthy relay\) or nearest/],
  ])('400 for %s, naming the field', async (query, _field, message) => {
    const res = await get(`${fleet.url}/v1/ice-servers?user=alice&${query}`, { token });
    expect(res.status).toBe(400);
    expect(res.json().message).toMatch(message);
  });

  it('503 with Retry-After when no relay passes its probe', async () => {
    const res = await get(`${fleet.url}/v1/ice-servers?user=alice&region=us-east&relays=all`, {
      token,
    });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.json().message).toMatch(/no relay passed its last health check/);
  });

  it('a provider without regions accepts a well-formed region and ignores it', async () => {
    const res = await get(`${stun.url}/v1/ice-servers?user=alice&region=eu-west&relays=all`, {
      token,
    });
    expect(res.status).toBe(200);
    expect(res.json().iceServers).toEqual([{ urls: ['stun:stun.example.com:3478'] }]);
  });
});
