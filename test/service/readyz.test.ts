import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeMetered, startFakeMetered } from '../helpers/fake-metered';
import { DRAINING_REASON, type FakeTurn, startFakeTurn, unusedUdpPort } from '../helpers/fake-turn';
import { get, randomToken, startTestService } from '../helpers/service';

/**
 * GET /readyz on the public API port: a load balancer (no token, or a wrong one) gets the status
 * code, `status` and a short `cause`; the operator's token also gets the provider and the detail
 * (probe targets, every fleet relay, upstream messages).
 */

const SECRET = `readyz-secret-${randomToken()}`;
const TOKEN = randomToken();

type Service = Awaited<ReturnType<typeof startTestService>>;
const started: Service[] = [];
async function start(env: Record<string, string>): Promise<Service> {
  const s = await startTestService({ API_TOKENS: TOKEN, ...env });
  started.push(s);
  return s;
}
afterAll(async () => {
  for (const s of started) await s.service.close();
});

let relay: Awaited<ReturnType<typeof startFakeTurn>>;
beforeAll(async () => {
  relay = await startFakeTurn({ secret: SECRET });
});
afterAll(async () => relay?.close());

const coturn = (port: number, secret = SECRET) => ({
  TURN_PROVIDER: 'coturn',
  TURN_SECRET: secret,
  TURN_URLS: `turn:127.0.0.1:${port}`,
});

/** /readyz without a token, with a wrong one and with a malformed header: all the short form. */
async function strangers(url: string) {
  return Promise.all([
    get(`${url}/readyz`),
    get(`${url}/readyz`, { token: randomToken() }),
    get(`${url}/readyz`, { headers: { authorization: 'Basic x' } }),
  ]);
}

describe('/readyz without a valid token: status and cause only', () => {
  it.each([
    ['a relay that allocates', () => coturn(relay.port), 200, 'ready', 'ready'],
    [
      'a relay that refuses the credential (another secret)',
      () => coturn(relay.port, `another-${SECRET}`),
      503,
      'not_ready',
      'relay_refused',
    ],
  ] as const)('%s', async (_name, env, code, status, cause) => {
    const s = await start(env());
    for (const res of await strangers(s.url)) {
      expect(res.status).toBe(code);
      expect(res.json()).toEqual({ status, cause });
      expect(res.text).not.toContain('127.0.0.1');
    }
    const full = await get(`${s.url}/readyz`, { token: TOKEN });
    expect(full.status).toBe(code);
    expect(full.json()).toEqual({
      status,
      cause,
      provider: 'coturn',
      detail: expect.stringContaining(`127.0.0.1:${relay.port}`),
    });
  });

  describe('a relay that refuses the allocation itself (after the credential checked out)', () => {
    let refusing: FakeTurn;
    beforeAll(async () => {
      refusing = await startFakeTurn({ secret: SECRET });
    });
    afterAll(async () => refusing?.close());

    it('draining (Coturn after SIGUSR1) → 503 relay_draining; with the token, use another relay', async () => {
      refusing.refuseAllocate({ code: 403, reason: DRAINING_REASON });
      const s = await start(coturn(refusing.port));
      for (const res of await strangers(s.url)) {
        expect(res.status).toBe(503);
        expect(res.json()).toEqual({ status: 'not_ready', cause: 'relay_draining' });
      }
      const full = await get(`${s.url}/readyz`, { token: TOKEN });
      expect(full.status).toBe(503);
      const body = full.json();
      expect(body).toMatchObject({ status: 'not_ready', cause: 'relay_draining' });
      // What is going on, that it is no fault, and where clients have to go; the raw reason kept.
      expect(body.detail).toContain(`TURN allocation on 127.0.0.1:${refusing.port}/udp failed`);
      expect(body.detail).toContain(`the relay is draining (403 ${DRAINING_REASON})`);
      expect(body.detail).toMatch(
        /being replaced.*refuses new allocations.*calls in progress keep relaying/,
      );
      expect(body.detail).toMatch(/fix: clients should use another relay/);
    });

    it('a 403 to the Allocate with no reason text (4.18 sends none by default) is draining too', async () => {
      // handle_turn_allocate's only 403 is is_draining (ns_turn_server.c).
      refusing.refuseAllocate({ code: 403, reason: '' });
      const s = await start(coturn(refusing.port));
      for (const res of await strangers(s.url)) {
        expect(res.status).toBe(503);
        expect(res.json()).toEqual({ status: 'not_ready', cause: 'relay_draining' });
      }
    });

    it('another refusal of the Allocate (486, quota) is still relay_refused, never draining', async () => {
      refusing.refuseAllocate({ code: 486, reason: 'Allocation Quota Reached' });
      const s = await start(coturn(refusing.port));
      for (const res of await strangers(s.url)) {
        expect(res.status).toBe(503);
        expect(res.json()).toEqual({ status: 'not_ready', cause: 'relay_refused' });
      }
      const { detail } = (await get(`${s.url}/readyz`, { token: TOKEN })).json();
      expect(detail).not.toMatch(/drain/i);
    });
  });

  it('a relay that does not answer → 503 relay_unreachable', async () => {
    const s = await start(coturn(await unusedUdpPort()));
    for (const res of await strangers(s.url)) {
      expect(res.status).toBe(503);
      expect(res.json()).toEqual({ status: 'not_ready', cause: 'relay_unreachable' });
    }
    expect((await get(`${s.url}/readyz`, { token: TOKEN })).json().detail).toMatch(
      /TURN allocation on 127\.0\.0\.1:\d+\/udp failed: no answer/,
    );
  });

  it('a fleet with no healthy relay → 503 no_healthy_relay, the relays named only with the token', async () => {
    const s = await start({
      TURN_PROVIDER: 'coturn',
      TURN_SECRET: SECRET,
      TURN_RELAYS: JSON.stringify([
        { region: 'eu-west', urls: ['turn:127.0.0.1:9?transport=udp'] },
        { region: 'us-east', urls: ['turn:127.0.0.1:7?transport=udp'] },
      ]),
    });
    for (const res of await strangers(s.url)) {
      expect(res.status).toBe(503);
      expect(res.json()).toEqual({ status: 'not_ready', cause: 'no_healthy_relay' });
      expect(res.text).not.toMatch(/eu-west|us-east/);
    }
    const full = (await get(`${s.url}/readyz`, { token: TOKEN })).json();
    expect(full.detail).toMatch(/^0 of 2 relays pass .*eu-west .*us-east/);
  });

  describe('Metered', () => {
    let fake: FakeMetered;
    beforeAll(async () => {
      fake = await startFakeMetered();
    });
    afterAll(async () => fake?.close());

    it("refusing the key → 503 upstream_error; Metered's words only with the token", async () => {
      fake.fail.mint = 'unauthorized';
      const s = await start({
        TURN_PROVIDER: 'metered',
        TURN_API_URL: fake.url,
        TURN_API_KEY: fake.secretKey,
      });
      for (const res of await strangers(s.url)) {
        expect(res.status).toBe(503);
        expect(res.json()).toEqual({ status: 'not_ready', cause: 'upstream_error' });
        expect(res.text).not.toMatch(/Metered|App not found/);
      }
      expect((await get(`${s.url}/readyz`, { token: TOKEN })).json().detail).toMatch(
        /Metered refused the secret key/,
      );
      fake.fail = {};
    });
  });

  it('STUN-only without API_TOKENS (nothing to authenticate): the detail, as the open endpoint', async () => {
    const s = await startTestService({ STUN_URLS: 'stun:stun.example.com:3478' });
    started.push(s);
    const res = await get(`${s.url}/readyz`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({
      status: 'ready',
      cause: 'ready',
      provider: 'stun',
      detail: 'STUN only (1 server(s))',
    });
  });
});
