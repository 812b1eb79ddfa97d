import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { turnRestCredential } from '../../service/providers/coturn';
import { allocate, TurnError } from '../../service/turn/client';
import { type RunningCoturn, startCoturn } from '../helpers/coturn';
import { escapeRegExp } from '../helpers/regexp';

/**
 * What a credential's expiry means to turnserver with the shipped config. Coturn checks the
 * timestamp in a TURN REST username only when it derives a session's key (userdb.c,
 * get_user_key); later requests on that session are checked against the cached key
 * (ns_turn_server.c, check_stun_auth: hmackey_set). So expiry stops new allocations, not the
 * refreshes of one made in time. docs/operations.md "Credential lifetime" states the consequences.
 */
describe('credential expiry with the shipped config (real turnserver, loopback)', () => {
  const key = randomBytes(32).toString('hex');
  let server: RunningCoturn;
  beforeAll(async () => {
    server = await startCoturn({ env: { TURN_SECRET: key }, args: ['-v'] });
  });
  afterAll(async () => server?.stop());

  it('keeps refreshing an allocation made before expiry, and refuses new allocations with 401', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 3;
    const cred = turnRestCredential(key, `expiry-${randomBytes(4).toString('hex')}`, expiresAt);
    const opts = { host: '127.0.0.1', port: server.port, ...cred };

    const allocation = await allocate(opts);
    try {
      // turnserver accepts a timestamp up to and including the current second.
      while (Date.now() < (expiresAt + 2) * 1000) await new Promise((r) => setTimeout(r, 250));

      expect(await allocation.refresh(600)).toBe(600);
      const refreshed = new RegExp(
        `user <${escapeRegExp(cred.username)}>: incoming packet REFRESH processed, success`,
      );
      await expect.poll(() => refreshed.test(server.log())).toBe(true);

      const refused = await allocate(opts).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(TurnError);
      expect((refused as TurnError).code).toBe(401);
    } finally {
      await allocation.release();
    }
  });
});
