import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoturnProvider } from '../../service/providers/coturn';
import { allocate } from '../../service/turn/client';
import { probeStun } from '../../service/turn/probe';
import { type RunningCoturn, startCoturn } from '../helpers/coturn';
import { get, randomToken, startTestService } from '../helpers/service';

const newSecret = () => randomBytes(32).toString('hex');
const turnUrls = (port: number) =>
  `turn:127.0.0.1:${port}?transport=udp,turn:127.0.0.1:${port}?transport=tcp`;
/** The relay's verbose log line for one outcome of the readiness credential's requests. */
const readyzOutcome = (what: string) =>
  new RegExp(`user <\\d+:turnkey:readyz:[0-9a-f]+>: incoming packet ${what} processed, success`);

describe('/readyz against the real turnserver', () => {
  const secret = newSecret();
  let coturn: RunningCoturn;
  let svc: Awaited<ReturnType<typeof startTestService>>;
  const token = randomToken();

  beforeAll(async () => {
    coturn = await startCoturn({ env: { TURN_SECRET: secret } });
    svc = await startTestService({
      TURN_PROVIDER: 'coturn',
      TURN_SECRET: secret,
      TURN_URLS: turnUrls(coturn.port),
      API_TOKENS: token,
    });
  });
  afterAll(async () => {
    await svc?.service.close();
    await coturn?.stop();
  });

  it('gets a STUN binding answer over UDP and over TCP', async () => {
    for (const transport of ['udp', 'tcp'] as const) {
      const rtt = await probeStun({
        host: '127.0.0.1',
        port: coturn.port,
        transport,
        timeoutMs: 2000,
      });
      expect(rtt).toBeGreaterThanOrEqual(0);
    }
  });

  it('allocates with its own credential and releases it; 503 while Coturn is down, 200 when back', async () => {
    const up = await get(`${svc.url}/readyz`, { token });
    expect(up.status).toBe(200);
    expect(up.json().detail).toMatch(
      new RegExp(`TURN allocation on 127.0.0.1:${coturn.port}/udp .*succeeded`),
    );
    // The relay saw the allocation and its release (a Refresh with lifetime 0).
    await expect.poll(() => coturn.log()).toMatch(readyzOutcome('ALLOCATE'));
    await expect.poll(() => coturn.log()).toMatch(readyzOutcome('REFRESH'));

    const port = coturn.port;
    await coturn.stop();
    // The verdict is reused for a few seconds, then the next probe finds the relay gone.
    await expect
      .poll(async () => (await get(`${svc.url}/readyz`)).status, { timeout: 15_000, interval: 500 })
      .toBe(503);
    const down = await get(`${svc.url}/readyz`, { token });
    expect(down.json()).toMatchObject({ status: 'not_ready', provider: 'coturn' });
    expect(down.json().detail).toMatch(/no answer from 127\.0\.0\.1:\d+\/udp.*firewall/);

    // Same port again, as a restarted container would have.
    coturn = await startCoturn({ env: { TURN_SECRET: secret, TURN_PORT: String(port) } });
    expect(coturn.port).toBe(port);
    await expect
      .poll(async () => (await get(`${svc.url}/readyz`)).status, { timeout: 15_000, interval: 500 })
      .toBe(200);
  });
});

// Coturn counts user-quota per user id across all of its credentials: an app user who could
// ask for the probe's id could hold its quota and fail readiness (in a fleet: every host's).
describe("/readyz and a user who holds allocations under the probe's name", () => {
  it('stays ready: no request can get credentials for the id the probe allocates as', async () => {
    const secret = newSecret();
    const token = randomToken();
    const coturn = await startCoturn({
      env: { TURN_SECRET: secret, TURN_USER_QUOTA: '2' },
      args: ['-v'],
    });
    const svc = await startTestService({
      TURN_PROVIDER: 'coturn',
      TURN_SECRET: secret,
      TURN_URLS: turnUrls(coturn.port),
      API_TOKENS: token,
    });
    const held = [];
    try {
      expect((await get(`${svc.url}/readyz`, { token })).status).toBe(200);
      const probeId = /user <\d+:(.+?)>: incoming packet ALLOCATE processed, success/.exec(
        coturn.log(),
      )?.[1] as string;
      expect(probeId).toBeDefined();
      // The id the relay saw cannot be asked for.
      const asked = await get(`${svc.url}/v1/ice-servers?user=${encodeURIComponent(probeId)}`, {
        token,
      });
      expect(asked.status).toBe(400);
      // Nor can the name the probe once used, or the part of its id a request could spell, be
      // made to hold the probe's quota: each user id here fills its own quota of 2.
      for (const user of ['turnkey-readyz', 'turnkey', 'readyz', probeId.replace(/:/g, '-')]) {
        const res = await get(`${svc.url}/v1/ice-servers?user=${user}`, { token });
        const turn = (res.json().iceServers as { username?: string; credential?: string }[]).at(-1);
        for (let i = 0; i < 2; i++)
          held.push(
            await allocate({
              host: '127.0.0.1',
              port: coturn.port,
              username: turn?.username as string,
              credential: turn?.credential as string,
            }),
          );
      }
      // Past the 5 s a verdict is reused, so this /readyz allocates again.
      await new Promise((r) => setTimeout(r, 5500));
      const ready = await get(`${svc.url}/readyz`, { token });
      expect(ready.json().detail).toMatch(/succeeded/);
      expect(ready.status).toBe(200);
    } finally {
      for (const a of held) await a.release().catch(() => {});
      await svc.service.close();
      await coturn.stop();
    }
  });
});

describe('/readyz when the relay refuses what the service would hand out', () => {
  it('is 503 naming a secret mismatch when the relay has another secret', async () => {
    const relaySecret = newSecret();
    const serviceSecret = newSecret();
    const token = randomToken();
    const coturn = await startCoturn({ env: { TURN_SECRET: relaySecret } });
    const svc = await startTestService({
      TURN_PROVIDER: 'coturn',
      TURN_SECRET: serviceSecret,
      TURN_URLS: turnUrls(coturn.port),
      API_TOKENS: token,
    });
    try {
      // A bare STUN binding (what readiness used to send) still succeeds here.
      await probeStun({ host: '127.0.0.1', port: coturn.port, transport: 'udp', timeoutMs: 2000 });
      const res = await get(`${svc.url}/readyz`, { token });
      expect(res.status).toBe(503);
      expect(res.json()).toMatchObject({ status: 'not_ready', provider: 'coturn' });
      expect(res.json().detail).toMatch(/allocate refused \(401 Unauthorized\).*another secret/);
      for (const s of [relaySecret, serviceSecret]) {
        expect(res.text).not.toContain(s);
        expect(svc.logs.text()).not.toContain(s);
      }
    } finally {
      await svc.service.close();
      await coturn.stop();
    }
  });

  it('is 503 naming the quota when the relay has no allocation left', async () => {
    const secret = newSecret();
    // One allocation in all, held by someone else.
    const coturn = await startCoturn({ env: { TURN_SECRET: secret }, overlay: 'total-quota=1\n' });
    const other = new CoturnProvider({
      secret,
      turnUris: [`turn:127.0.0.1:${coturn.port}`],
      stunUris: [],
      credentialTtl: 600,
    });
    const turn = (await other.getIceServers('someone')).iceServers.at(-1);
    const held = await allocate({
      host: '127.0.0.1',
      port: coturn.port,
      username: turn?.username as string,
      credential: turn?.credential as string,
    });
    const provider = new CoturnProvider({
      secret,
      turnUris: [`turn:127.0.0.1:${coturn.port}`],
      stunUris: [],
      credentialTtl: 600,
    });
    try {
      const state = await provider.checkReady();
      expect(state.ready).toBe(false);
      expect(state.detail).toMatch(/allocate refused \(486 .*quota/);
    } finally {
      await held.release();
      await coturn.stop();
    }
  });
});
