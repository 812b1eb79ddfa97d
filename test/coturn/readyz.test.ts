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
  new RegExp(`user <\\d+:turnkey-readyz>: incoming packet ${what} processed, success`);

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
