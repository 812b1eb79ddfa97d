import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CoturnProvider, hashedUserId, turnRestCredential } from '../../service/providers/coturn';
import { InvalidInputError } from '../../service/providers/errors';
import { startFakeTurn } from '../helpers/fake-turn';

const NOW_MS = 1_700_000_000_500; // fractional second on purpose: expiry must floor it

function provider(overrides: Partial<ConstructorParameters<typeof CoturnProvider>[0]> = {}) {
  return new CoturnProvider({
    secret: 'test-secret',
    turnUris: [
      'turn:relay.example.com:3478?transport=udp',
      'turn:relay.example.com:3478?transport=tcp',
    ],
    stunUris: ['stun:relay.example.com:3478'],
    credentialTtl: 3600,
    now: () => NOW_MS,
    ...overrides,
  });
}

describe('turnRestCredential', () => {
  it('matches the draft-uberti-behave-turn-rest-00 test vector', () => {
    const { username, credential } = turnRestCredential('north', 'mbzrxpgjys', 1266890800);
    expect(username).toBe('1266890800:mbzrxpgjys');
    expect(credential).toBe('nbRcrnq5h6xXhyNhlwk+lDLvVVo=');
  });

  it('changes when the secret, user or expiry changes', () => {
    const base = turnRestCredential('north', 'alice', 100).credential;
    expect(turnRestCredential('south', 'alice', 100).credential).not.toBe(base);
    expect(turnRestCredential('north', 'bob', 100).credential).not.toBe(base);
    expect(turnRestCredential('north', 'alice', 101).credential).not.toBe(base);
  });
});

describe('CoturnProvider.getIceServers', () => {
  it('returns STUN servers, then TURN servers with credentials that verify against the secret', async () => {
    const result = await provider().getIceServers('alice');
    expect(result.iceServers).toHaveLength(2);
    expect(result.iceServers[0]).toEqual({ urls: ['stun:relay.example.com:3478'] });
    const turn = result.iceServers[1];
    expect(turn?.urls).toEqual([
      'turn:relay.example.com:3478?transport=udp',
      'turn:relay.example.com:3478?transport=tcp',
    ]);
    const expiry = Math.floor(NOW_MS / 1000) + 3600;
    expect(turn?.username).toBe(`${expiry}:alice`);
    expect(turn?.credential).toBe(
      createHmac('sha1', 'test-secret').update(`${expiry}:alice`).digest('base64'),
    );
  });

  it('reports ttl and expiresAt for the same instant as the username’s timestamp', async () => {
    const result = await provider().getIceServers('alice', { ttl: 600 });
    const expiry = Math.floor(NOW_MS / 1000) + 600;
    expect(result.ttl).toBe(600);
    expect(result.expiresAt).toBe(new Date(expiry * 1000).toISOString());
    expect(result.iceServers[1]?.username?.split(':')[0]).toBe(String(expiry));
  });

  it('caps a requested ttl at the configured maximum', async () => {
    const result = await provider({ credentialTtl: 900 }).getIceServers('alice', { ttl: 86_400 });
    expect(result.ttl).toBe(900);
    expect(result.iceServers[1]?.username).toBe(`${Math.floor(NOW_MS / 1000) + 900}:alice`);
  });

  it('rejects ttl below a minute or not whole', async () => {
    await expect(provider().getIceServers('alice', { ttl: 59 })).rejects.toThrow(
      /ttl.*at least 60/,
    );
    await expect(provider().getIceServers('alice', { ttl: 90.5 })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
  });

  it('omits the STUN entry when no STUN URI is configured', async () => {
    const result = await provider({ stunUris: [] }).getIceServers('alice');
    expect(result.iceServers).toHaveLength(1);
    expect(result.iceServers[0]?.username).toMatch(/:alice$/);
  });

  it.each([
    ['', /user is required/],
    ['a:b', /no colons/],
    ['with space', /no colons or spaces/],
    ['x'.repeat(129), /too long/],
    ['bad\nline', /only letters/],
  ])('rejects user id %j', async (user, message) => {
    const err = await provider()
      .getIceServers(user)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as InvalidInputError).field).toBe('user');
    expect((err as Error).message).toMatch(message);
  });

  it('accepts typical user ids', async () => {
    for (const user of ['42', 'alice@example.com', 'u_1.2-3~x+y', 'x'.repeat(128)]) {
      const r = await provider().getIceServers(user);
      expect(r.iceServers[1]?.username?.endsWith(`:${user}`)).toBe(true);
    }
  });
});

describe('CoturnProvider construction', () => {
  it('needs a secret and a plain turn: URI', () => {
    expect(() => provider({ secret: '' })).toThrow(/non-empty secret/);
    expect(() => provider({ turnUris: ['turns:relay.example.com:5349'] })).toThrow(
      /plain turn: URI/,
    );
    expect(() => provider({ turnUris: ['stun:relay.example.com'] })).toThrow(/not a turn/);
  });
});

describe('hashUserIds (TURN_HASH_USER_IDS): user ids kept out of the relay', () => {
  const username = async (p: CoturnProvider, user: string) =>
    (await p.getIceServers(user)).iceServers.at(-1)?.username as string;

  it('puts a keyed hash in the username: same per user and secret, never the id', async () => {
    const hashed = provider({ hashUserIds: true });
    const alice = await username(hashed, 'alice@example.com');
    expect(alice).not.toContain('alice');
    expect(alice).toMatch(/^1700003600:[A-Za-z0-9_-]{22}$/);
    expect(await username(hashed, 'alice@example.com')).toBe(alice);
    expect(await username(hashed, 'bob@example.com')).not.toBe(alice);
    // Keyed: without the secret, hashing a guessed id does not reproduce it.
    const other = provider({ hashUserIds: true, secret: 'another-secret' });
    expect(await username(other, 'alice@example.com')).not.toBe(alice);
    expect(alice.split(':')[1]).toBe(
      createHmac('sha256', 'test-secret')
        .update('turnkey user id\0alice@example.com')
        .digest()
        .subarray(0, 16)
        .toString('base64url'),
    );
  });

  it('still signs the username Coturn will see', async () => {
    const turn = (await provider({ hashUserIds: true }).getIceServers('alice')).iceServers.at(-1);
    expect(turn?.credential).toBe(
      createHmac('sha1', 'test-secret')
        .update(turn?.username as string)
        .digest('base64'),
    );
  });

  it('is off by default', async () => {
    expect(await username(provider(), 'alice')).toBe('1700003600:alice');
  });
});

describe('useSecret (TURN_SECRET_FILE rotated under a running service)', () => {
  it('signs credentials and hashes user ids with the new secret from then on', async () => {
    const p = provider({ hashUserIds: true });
    const before = (await p.getIceServers('alice')).iceServers.at(-1);
    p.useSecret('rotated-secret');
    const after = (await p.getIceServers('alice')).iceServers.at(-1);
    expect(after?.username).not.toBe(before?.username);
    expect(after?.username?.split(':')[1]).toBe(hashedUserId('rotated-secret', 'alice'));
    expect(after?.credential).toBe(
      createHmac('sha1', 'rotated-secret')
        .update(after?.username as string)
        .digest('base64'),
    );
  });

  it('refuses an empty secret and keeps signing with the old one', async () => {
    const p = provider();
    expect(() => p.useSecret('')).toThrow(/non-empty secret/);
    const turn = (await p.getIceServers('alice')).iceServers.at(-1);
    expect(turn?.credential).toBe(
      createHmac('sha1', 'test-secret')
        .update(turn?.username as string)
        .digest('base64'),
    );
  });

  it('drops the readiness verdict reached with the old secret', async () => {
    const relay = await startFakeTurn({ secret: 'the-relay-secret' });
    try {
      const p = provider({
        turnUris: [`turn:127.0.0.1:${relay.port}`],
        now: Date.now,
        // Longer than the test: only the rotation can end the cached verdict.
        readyCacheMs: 600_000,
      });
      expect(await p.checkReady()).toMatchObject({ ready: false, cause: 'relay_refused' });
      p.useSecret('the-relay-secret');
      expect(await p.checkReady()).toMatchObject({ ready: true, cause: 'ready' });
    } finally {
      await relay.close();
    }
  });
});
