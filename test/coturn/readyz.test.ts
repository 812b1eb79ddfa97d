import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeStun } from '../../service/stun-probe';
import { type RunningCoturn, startCoturn } from '../helpers/coturn';
import { get, randomToken, startTestService } from '../helpers/service';

describe('/readyz against the real turnserver', () => {
  const secret = randomBytes(32).toString('hex');
  let coturn: RunningCoturn;
  let svc: Awaited<ReturnType<typeof startTestService>>;

  beforeAll(async () => {
    coturn = await startCoturn({ env: { TURN_SECRET: secret } });
    svc = await startTestService({
      TURN_PROVIDER: 'coturn',
      TURN_SECRET: secret,
      TURN_URLS: `turn:127.0.0.1:${coturn.port}?transport=udp,turn:127.0.0.1:${coturn.port}?transport=tcp`,
      API_TOKENS: randomToken(),
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

  it('is ready while Coturn answers, 503 while it is down, ready again when it is back', async () => {
    const up = await get(`${svc.url}/readyz`);
    expect(up.status).toBe(200);
    expect(up.json().detail).toMatch(
      new RegExp(`STUN binding to 127.0.0.1:${coturn.port}/udp answered`),
    );

    const port = coturn.port;
    await coturn.stop();
    const down = await get(`${svc.url}/readyz`);
    expect(down.status).toBe(503);
    expect(down.json()).toMatchObject({ status: 'not_ready', provider: 'coturn' });

    // Same port again, as a restarted container would have.
    coturn = await startCoturn({ env: { TURN_SECRET: secret, TURN_PORT: String(port) } });
    expect(coturn.port).toBe(port);
    expect((await get(`${svc.url}/readyz`)).status).toBe(200);
  });
});
