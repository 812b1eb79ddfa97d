import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { turnRestCredential } from '../../service/providers/coturn';
import { allocate, TurnError } from '../../service/turn/client';
import { startCoturn } from '../helpers/coturn';
import { get, randomToken, startTestService } from '../helpers/service';

/**
 * SIGUSR1, the relay container's stop signal, with the shipped config: Coturn drains (new
 * allocations refused, those in progress kept) and exits once none are left.
 */
describe('SIGUSR1: the relay drains', () => {
  it('refuses new allocations with 403, keeps refreshing the ones in progress, exits 0 when they end', async () => {
    const key = randomBytes(32).toString('hex');
    const server = await startCoturn({ env: { TURN_SECRET: key } });
    const cred = (user: string) =>
      turnRestCredential(
        key,
        `${user}-${randomBytes(4).toString('hex')}`,
        Math.floor(Date.now() / 1000) + 3600,
      );
    const at = { host: '127.0.0.1', port: server.port };
    try {
      const inProgress = await allocate({ ...at, ...cred('call') });
      process.kill(server.process.pid as number, 'SIGUSR1');
      await expect
        .poll(
          () =>
            allocate({ ...at, ...cred('new') }).then(
              async (a) => {
                await a.release();
                return 'allocated';
              },
              (e: unknown) => (e instanceof TurnError ? `${e.code} ${e.reason}` : String(e)),
            ),
          { timeout: 5_000, interval: 200 },
        )
        // The only 403 an Allocate gets from Coturn (ns_turn_server.c handle_turn_allocate,
        // is_draining); 4.18 sends no reason text unless include-reason-string is on, which
        // the shipped config leaves off (it would raise the amplification factor).
        .toBe('403 ');
      expect(await inProgress.refresh(600)).toBe(600);
      await inProgress.createPermission('198.51.100.77').catch(() => {});
      expect(server.process.exitCode).toBe(null);
      await inProgress.release();
      // About 10 s later here: turnserver checks its allocation count once per main-loop
      // cycle (netengine.c run_listener_server).
      expect(
        await Promise.race([
          server.exited,
          new Promise((r) => setTimeout(() => r('running'), 30_000)),
        ]),
      ).toBe(0);
      expect(server.log()).toMatch(/Drain complete \(0 allocations remaining/);
    } finally {
      await server.stop();
    }
  });
});

describe('/readyz of a draining relay (the real turnserver after SIGUSR1)', () => {
  it('is 503 relay_draining, not a refusal of the secret or the quota', async () => {
    const key = randomBytes(32).toString('hex');
    const server = await startCoturn({ env: { TURN_SECRET: key } });
    const token = randomToken();
    const svc = await startTestService({
      TURN_PROVIDER: 'coturn',
      TURN_SECRET: key,
      TURN_URLS: `turn:127.0.0.1:${server.port}?transport=udp`,
      API_TOKENS: token,
    });
    // An allocation in progress keeps the draining relay up.
    const call = await allocate({
      host: '127.0.0.1',
      port: server.port,
      ...turnRestCredential(key, 'call', Math.floor(Date.now() / 1000) + 3600),
    });
    try {
      expect((await get(`${svc.url}/readyz`)).json()).toEqual({ status: 'ready', cause: 'ready' });
      process.kill(server.process.pid as number, 'SIGUSR1');
      // The verdict is kept 5 s, then the next probe finds the relay draining.
      await expect
        .poll(async () => (await get(`${svc.url}/readyz`)).json(), {
          timeout: 10_000,
          interval: 500,
        })
        .toEqual({ status: 'not_ready', cause: 'relay_draining' });
      expect((await get(`${svc.url}/readyz`, { token })).json().detail).toMatch(/draining/);
    } finally {
      await call.release().catch(() => {});
      await svc.service.close();
      await server.stop();
    }
  });
});
