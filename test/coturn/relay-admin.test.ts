import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endSessions, RelayAdminError } from '../../service/revocations/relay-admin';
import { allocate, TurnError } from '../../service/turn/client';
import {
  entrypointOutcome,
  mintCredential,
  type RunningCoturn,
  startCoturn,
} from '../helpers/coturn';
import { freePortBlock } from '../helpers/ports';

/**
 * Ending a revoked user's sessions on the real turnserver through its admin CLI, as the
 * credential service does (service/revocations/relay-admin.ts): the entrypoint opens the CLI on
 * 127.0.0.1 behind the password file, the user's allocations end, another user's do not, and
 * a wrong password ends nothing.
 */

const key = randomBytes(32).toString('hex');
const password = randomBytes(24).toString('hex');

const refreshCode = (a: { refresh(): Promise<number> }) =>
  a.refresh().then(
    () => 0,
    (e: unknown) => (e instanceof TurnError ? e.code : -1),
  );

describe('the relay’s admin CLI (TURN_CLI_PASSWORD_FILE)', () => {
  let server: RunningCoturn;
  let cliPort: number;
  beforeAll(async () => {
    cliPort = await freePortBlock(1);
    server = await startCoturn({
      env: { TURN_SECRET: key, TURN_CLI_PORT: String(cliPort) },
      files: { TURN_CLI_PASSWORD_FILE: password },
      relayPortCount: 10,
    });
  });
  afterAll(async () => server?.stop());

  it('ends every session of one user and no other’s', async () => {
    const alice = `alice-${randomBytes(3).toString('hex')}`;
    const bob = `bob-${randomBytes(3).toString('hex')}`;
    const a1 = await allocate({
      host: '127.0.0.1',
      port: server.port,
      ...(await mintCredential(key, alice)),
    });
    const a2 = await allocate({
      host: '127.0.0.1',
      port: server.port,
      ...(await mintCredential(key, alice)),
    });
    // A user id that contains alice's must not match it.
    const b = await allocate({
      host: '127.0.0.1',
      port: server.port,
      ...(await mintCredential(key, `x${alice}`)),
    });
    const c = await allocate({
      host: '127.0.0.1',
      port: server.port,
      ...(await mintCredential(key, bob)),
    });
    try {
      expect(await endSessions({ port: cliPort, password }, alice)).toBe(2);
      // The relay frees the allocation: a refresh on it is refused (437 Allocation Mismatch).
      await expect.poll(() => refreshCode(a1), { timeout: 5000 }).toBe(437);
      expect(await refreshCode(a2)).toBe(437);
      expect(await refreshCode(b)).toBe(0);
      expect(await refreshCode(c)).toBe(0);
      expect(await endSessions({ port: cliPort, password }, alice)).toBe(0);
    } finally {
      for (const x of [b, c]) await x.release().catch(() => {});
    }
  });

  it('refuses a wrong password and ends nothing', async () => {
    const carol = `carol-${randomBytes(3).toString('hex')}`;
    const a = await allocate({
      host: '127.0.0.1',
      port: server.port,
      ...(await mintCredential(key, carol)),
    });
    try {
      await expect(endSessions({ port: cliPort, password: `${password}x` }, carol)).rejects.toThrow(
        /refused the password/,
      );
      expect(await refreshCode(a)).toBe(0);
    } finally {
      await a.release();
    }
  });

  it('listens on 127.0.0.1 only', () => {
    expect(server.log()).toMatch(new RegExp(`CLI listener opened on : 127\\.0\\.0\\.1:${cliPort}`));
  });
});

describe('without TURN_CLI_PASSWORD_FILE', () => {
  it('runs no admin CLI at all', async () => {
    const cliPort = await freePortBlock(1);
    const server = await startCoturn({ env: { TURN_SECRET: key, TURN_CLI_PORT: String(cliPort) } });
    try {
      await expect(endSessions({ port: cliPort, password }, 'anyone')).rejects.toThrow(
        RelayAdminError,
      );
      expect(server.log()).not.toMatch(/CLI listener opened/);
    } finally {
      await server.stop();
    }
  });

  it.each([
    ['short', 'abc'],
    ['not letters and digits', `${'a'.repeat(40)}!`],
  ])('refuses a password file that is %s', async (_what, value) => {
    const { code, out } = await entrypointOutcome({
      env: { TURN_SECRET: key },
      files: { TURN_CLI_PASSWORD_FILE: value },
    });
    expect(code).toBe(64);
    expect(out).toMatch(/TURN_CLI_PASSWORD_FILE must/);
    expect(out).not.toContain(value);
  });
});
