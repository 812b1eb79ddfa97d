import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SWEEP_MS } from '../../service/revocations/revocations';
import { revokeMain } from '../../service/revoke/cli';
import { allocate, TurnError } from '../../service/turn/client';
import { type RunningCoturn, startCoturn } from '../helpers/coturn';
import { freePortBlock } from '../helpers/ports';
import { get, randomToken, startTestService } from '../helpers/service';

/**
 * Revoking a user with the real service and the real turnserver on this machine: the service
 * writes the admin CLI's password into RELAY_SECRETS_DIR, the relay (the shipped entrypoint)
 * opens its CLI with it, and `turnkey revoke` through the API ends the user's allocations
 * within 5 s, refuses them credentials (403 revoked, with when it ends), ends what they
 * allocate again with a credential from before, leaves another user alone, survives a
 * restart of the service, and ends when it says.
 */

const secret = randomBytes(32).toString('hex');
const token = randomToken();
const uid = (label: string) => `${label}-${randomBytes(3).toString('hex')}`;

let relaySecrets: string;
let revocationsDir: string;
let cliPort: number;
let coturn: RunningCoturn;
let svc: Awaited<ReturnType<typeof startTestService>>;

const serviceEnv = (extra: Record<string, string> = {}) => ({
  TURN_PROVIDER: 'coturn',
  TURN_SECRET: secret,
  TURN_URLS: `turn:127.0.0.1:${coturn.port}?transport=udp`,
  API_TOKENS: token,
  RELAY_SECRETS_DIR: relaySecrets,
  REVOCATIONS_DIR: revocationsDir,
  TURN_CLI_PORT: String(cliPort),
  ...extra,
});

async function credentialOf(user: string) {
  const r = await get(`${svc.url}/v1/ice-servers?user=${user}`, { token });
  const turn = (r.json().iceServers as { username?: string; credential?: string }[]).find(
    (s) => s.username,
  );
  return { username: turn?.username as string, credential: turn?.credential as string };
}

const allocateWith = (cred: { username: string; credential: string }) =>
  allocate({ host: '127.0.0.1', port: coturn.port, ...cred });

const refreshCode = (a: { refresh(): Promise<number> }) =>
  a.refresh().then(
    () => 0,
    (e: unknown) => (e instanceof TurnError ? e.code : -1),
  );

async function revoke(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await revokeMain(['revoke', '--url', `${svc.url}/v1/ice-servers`, ...args], {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    env: { TURNKEY_API_TOKEN: token },
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeAll(async () => {
  relaySecrets = mkdtempSync(join(tmpdir(), 'turnkey-relay-secrets-'));
  revocationsDir = mkdtempSync(join(tmpdir(), 'turnkey-revocations-'));
  cliPort = await freePortBlock(1);
  // The service first, as the plan orders them: it writes the password the relay reads.
  coturn = { port: 0 } as RunningCoturn;
  const first = await startTestService({
    TURN_PROVIDER: 'coturn',
    TURN_SECRET: secret,
    TURN_URLS: 'turn:127.0.0.1:3478?transport=udp',
    API_TOKENS: token,
    RELAY_SECRETS_DIR: relaySecrets,
  });
  await first.service.close();
  const password = readFileSync(join(relaySecrets, 'cli-password'), 'utf8').trim();
  coturn = await startCoturn({
    env: { TURN_SECRET: secret, TURN_CLI_PORT: String(cliPort) },
    files: { TURN_CLI_PASSWORD_FILE: password },
    relayPortCount: 20,
  });
  svc = await startTestService(serviceEnv());
});

afterAll(async () => {
  await svc?.service.close();
  await coturn?.stop();
  for (const d of [relaySecrets, revocationsDir])
    if (d) rmSync(d, { recursive: true, force: true });
});

describe('turnkey revoke against the service and its relay', () => {
  it('ends the user’s sessions within 5 s and refuses them credentials, leaving another user alone', async () => {
    const alice = uid('alice');
    const bob = uid('bob');
    const aliceCred = await credentialOf(alice);
    const a = await allocateWith(aliceCred);
    const b = await allocateWith(await credentialOf(bob));
    try {
      const started = Date.now();
      const r = await revoke('--user', alice, '--for', '30s');
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(new RegExp(`^revoked ${alice} until \\d{4}-\\d\\d-\\d\\dT`));
      expect(r.out).toMatch(/127\.0\.0\.1: 1 sessions ended/);
      await expect.poll(() => refreshCode(a), { timeout: 5000, interval: 200 }).toBe(437);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(await refreshCode(b)).toBe(0);

      const refused = await get(`${svc.url}/v1/ice-servers?user=${alice}`, { token });
      expect(refused.status).toBe(403);
      expect(refused.json()).toMatchObject({
        error: 'revoked',
        message: expect.stringMatching(new RegExp(`^user ${alice} is revoked until \\d{4}-`)),
      });
      expect((await get(`${svc.url}/v1/ice-servers?user=${bob}`, { token })).status).toBe(200);

      // A credential from before still allocates, but the allocation does not last.
      const again = await allocateWith(aliceCred);
      await expect
        .poll(() => refreshCode(again), { timeout: 3 * SWEEP_MS + 2000, interval: 200 })
        .toBe(437);

      const list = await revoke('--list');
      expect(list.out).toMatch(new RegExp(`^${alice}  until `, 'm'));
      const metrics = (await get(`${svc.service.metricsUrl}/metrics`)).text;
      // The first end, and the one of the allocation made again.
      const sample = (name: string) =>
        Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1]);
      expect(sample('turnkey_revoked_sessions_ended_total')).toBeGreaterThanOrEqual(2);
      expect(sample('turnkey_revocations_active')).toBeGreaterThanOrEqual(1);
    } finally {
      await b.release().catch(() => {});
    }
  });

  it('keeps a revocation across a restart of the service, and lifts it on request', async () => {
    const carol = uid('carol');
    expect((await revoke('--user', carol, '--for', '10m')).code).toBe(0);
    await svc.service.close();
    svc = await startTestService(serviceEnv());
    expect((await get(`${svc.url}/v1/ice-servers?user=${carol}`, { token })).status).toBe(403);
    const lifted = await revoke('--user', carol, '--lift');
    expect(lifted.code, lifted.err).toBe(0);
    expect(lifted.out).toMatch(/revocation lifted/);
    expect((await get(`${svc.url}/v1/ice-servers?user=${carol}`, { token })).status).toBe(200);
  });

  it('ends when it says: the user gets credentials again and keeps an allocation', async () => {
    const dave = uid('dave');
    expect((await revoke('--user', dave, '--for', '2s')).code).toBe(0);
    expect((await get(`${svc.url}/v1/ice-servers?user=${dave}`, { token })).status).toBe(403);
    await new Promise((r) => setTimeout(r, 2100));
    const a = await allocateWith(await credentialOf(dave));
    try {
      await new Promise((r) => setTimeout(r, 2 * SWEEP_MS + 500));
      expect(await refreshCode(a)).toBe(0);
    } finally {
      await a.release();
    }
  });
});

describe('with TURN_HASH_USER_IDS: the relay sees a keyed hash, revocation still goes by the app’s id', () => {
  let hashed: Awaited<ReturnType<typeof startTestService>>;
  beforeAll(async () => {
    hashed = await startTestService(serviceEnv({ TURN_HASH_USER_IDS: 'true' }));
  });
  afterAll(async () => hashed?.service.close());

  it('ends the hashed sessions of the user', async () => {
    const erin = uid('erin');
    const r = await get(`${hashed.url}/v1/ice-servers?user=${erin}`, { token });
    const turn = (r.json().iceServers as { username?: string; credential?: string }[]).find(
      (s) => s.username,
    );
    expect(turn?.username).not.toContain(erin);
    const a = await allocateWith({
      username: turn?.username as string,
      credential: turn?.credential as string,
    });
    const post = await get(`${hashed.url}/v1/revocations`, {
      token,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: erin, seconds: 60 }),
    });
    expect(post.status).toBe(200);
    expect(post.json().relays).toEqual([{ relay: '127.0.0.1', sessionsEnded: 1 }]);
    await expect.poll(() => refreshCode(a), { timeout: 5000 }).toBe(437);
  });
});

describe('a fleet host that does not answer', () => {
  it('is named in the answer with why, and turnkey revoke exits 1', async () => {
    const dead = await freePortBlock(1);
    const withPeer = await startTestService(
      serviceEnv({ REVOCATION_PEERS: `https://127.0.0.1:${dead}` }),
    );
    try {
      const out: string[] = [];
      const err: string[] = [];
      const code = await revokeMain(
        [
          'revoke',
          '--url',
          `${withPeer.url}/v1/ice-servers`,
          '--user',
          uid('frank'),
          '--for',
          '1m',
        ],
        { out: (t) => out.push(t), err: (t) => err.push(t), env: { TURNKEY_API_TOKEN: token } },
      );
      expect(code).toBe(1);
      expect(out.join('\n')).toMatch(/127\.0\.0\.1: 0 sessions ended/);
      expect(out.join('\n')).toMatch(
        new RegExp(`127\\.0\\.0\\.1:${dead}: did not confirm: ECONNREFUSED`),
      );
      expect(err.join('\n')).toMatch(/1 relay\(s\) did not confirm: run it again/);
    } finally {
      await withPeer.service.close();
    }
  });
});

describe('bad input', () => {
  const post = (body: unknown, withToken = true) =>
    get(`${svc.url}/v1/revocations`, {
      ...(withToken ? { token } : {}),
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it.each([
    [{ user: 'a b', seconds: 60 }, /^user must be 1-128 of/],
    [{ seconds: 60 }, /^user must be/],
    [{ user: 'ok', seconds: 0 }, /^seconds must be a whole number from 1 to 2592000/],
    [{ user: 'ok', seconds: 2592001 }, /^seconds must be/],
    [{ user: 'ok', seconds: '60' }, /^seconds must be/],
  ])('POST %j → 400 naming the field', async (body, message) => {
    const r = await post(body);
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({
      error: 'invalid_request',
      message: expect.stringMatching(message),
    });
  });

  it('refuses a missing token with 401', async () => {
    expect((await post({ user: 'ok', seconds: 60 }, false)).status).toBe(401);
    expect((await get(`${svc.url}/v1/revocations`)).status).toBe(401);
  });

  it.each([
    [['--user', 'x', '--for', '31d'], /--for must be from 1s to 30d/],
    [['--user', 'x', '--for', 'soon'], /--for must be/],
    [['--user', 'a b'], /--user must be/],
    [['--user', 'x', '--lift', '--for', '1h'], /give --lift or --for, not both/],
  ])('turnkey revoke %j exits 2 saying why', async (args, message) => {
    const r = await revoke(...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  it('turnkey revoke without a token exits 2', async () => {
    const err: string[] = [];
    const code = await revokeMain(['revoke', '--url', `${svc.url}/v1/ice-servers`, '--user', 'x'], {
      out: () => {},
      err: (t) => err.push(t),
      env: {},
    });
    expect(code).toBe(2);
    expect(err.join('')).toMatch(
      /an API token is required: --token, --token-file or TURNKEY_API_TOKEN/,
    );
  });
});
