import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RelayEnv } from '../../contract';
import { CoturnProvider, turnRestCredential } from '../../service/providers/coturn';
import { allocate, TurnError } from '../../service/turn/client';
import {
  entrypointOutcome,
  permissionCodes,
  startCoturn,
  workDir,
  writeOwned,
} from '../helpers/coturn';

const secret = () => randomBytes(32).toString('hex');
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;
const user = (label: string) => `${label}-${randomBytes(4).toString('hex')}`;

/** The TURN error code of an Allocate, or 0 when it succeeded (the allocation is kept). */
async function allocateCode(port: number, cred: { username: string; credential: string }) {
  try {
    await allocate({ host: '127.0.0.1', port, ...cred });
    return 0;
  } catch (err) {
    if (err instanceof TurnError) return err.code;
    throw err;
  }
}

describe('entrypoint: secrets turnserver would not read as given', () => {
  const key = secret();
  it.each([
    [
      'a secret starting with =',
      { TURN_SECRET: `=${key}` },
      /^turnkey-coturn: TURN_SECRET must not start with '='/,
    ],
    [
      'a previous secret starting with =',
      { TURN_SECRET: key, TURN_SECRET_PREVIOUS: `${secret()},=${key}` },
      /^turnkey-coturn: TURN_SECRET_PREVIOUS must not start with '='/,
    ],
    [
      'a secret over 256 characters',
      { TURN_SECRET: 'a'.repeat(257) },
      /^turnkey-coturn: TURN_SECRET is too long: use at most 256 characters/,
    ],
    // Without set -f, * would expand to the names in the working directory (/ here), and
    // the error would be about those names instead.
    [
      'a previous-secret list with a glob',
      { TURN_SECRET: key, TURN_SECRET_PREVIOUS: '*' },
      /^turnkey-coturn: TURN_SECRET_PREVIOUS may contain only letters/,
    ],
    [
      'a user quota of 0 (no limit to turnserver)',
      { TURN_SECRET: key, TURN_USER_QUOTA: '0' },
      /^turnkey-coturn: TURN_USER_QUOTA must be from 1 to 2147483647, got 0/,
    ],
    [
      'a total quota that is no number',
      { TURN_SECRET: key, TURN_TOTAL_QUOTA: '12\nallow-loopback-peers' },
      /^turnkey-coturn: TURN_TOTAL_QUOTA must be a whole number/,
    ],
    [
      'a bandwidth cap too large for turnserver',
      { TURN_SECRET: key, TURN_MAX_BPS: '99999999999' },
      /^turnkey-coturn: TURN_MAX_BPS must be from 1 to 2147483647/,
    ],
    // A long realm is how 1,017 a's and `server-relay` became a config line of their own.
    [
      'a realm that would spill a second config line',
      { TURN_SECRET: key, TURN_REALM: `${'a'.repeat(1017)}server-relay` },
      /^turnkey-coturn: TURN_REALM must be at most 127 characters, got 1029 \(turnkey:realm\)$/,
    ],
    [
      'a realm longer than STUN allows',
      { TURN_SECRET: key, TURN_REALM: `${'a'.repeat(63)}.${'b'.repeat(64)}` },
      /^turnkey-coturn: TURN_REALM must be at most 127 characters, got 128/,
    ],
  ] as [string, RelayEnv, RegExp][])('refuses %s with one line', async (_name, env, message) => {
    // A value the entrypoint lets through starts turnserver, which would run until stopped.
    const { code, out } = await entrypointOutcome({ env });
    expect(code).toBe(64);
    expect(out.split('\n')).toHaveLength(1);
    expect(out).toMatch(message);
    expect(out).not.toContain(key);
  });

  it('accepts a 256-character secret, and turnserver uses it whole', async () => {
    const long = 'A1'.repeat(128);
    const server = await startCoturn({ env: { TURN_SECRET: long } });
    try {
      const cred = turnRestCredential(long, user('long'), inAnHour());
      expect(await allocateCode(server.port, cred)).toBe(0);
    } finally {
      await server.stop();
    }
  });
});

describe('entrypoint: values that would make more than one config line', () => {
  // `cert=` plus the path fills turnserver's 1,023-byte piece exactly where the file name
  // `server-relay` begins, so that name would be read as the option.
  const spilling = (inside: string) => {
    const dirs = Array.from({ length: 5 }, (_, i) => `${i}`.repeat(200)).join('/');
    return `${dirs.slice(0, 1023 - 'cert='.length - inside.length - 2)}/server-relay`;
  };

  it.each([
    ['a certificate path that spills past 1,023 bytes', 'TURN_TLS_CERT_FILE', spilling],
    ['a key path with a line break', 'TURN_TLS_KEY_FILE', () => 'key\nserver-relay'],
  ])('refuses %s', async (_name, variable, name) => {
    const [host, inside] = workDir();
    const file = (relative: string) => {
      mkdirSync(dirname(join(host, relative)), { recursive: true });
      writeOwned(join(host, relative), 'not a certificate', 0o444);
      return `${inside}/${relative}`;
    };
    const cert = file('cert.pem');
    const env: RelayEnv = {
      TURN_SECRET: secret(),
      TURN_TLS_CERT_FILE: cert,
      TURN_TLS_KEY_FILE: cert,
      [variable]: file(name(inside)),
    };
    const { code, out } = await entrypointOutcome({ env });
    rmSync(host, { recursive: true, force: true });
    expect(code).toBe(64);
    expect(out).toMatch(
      new RegExp(
        `^turnkey-coturn: ${variable} (must not contain a line break|is too long: the config line it makes must stay within 1,000 bytes)$`,
      ),
    );
  });
});

describe('EXTERNAL_IP with a private half: the deny list still holds', () => {
  it('relays to no private peer but the private half itself', async () => {
    const key = secret();
    const server = await startCoturn({
      env: { TURN_SECRET: key, EXTERNAL_IP: '198.51.100.7/10.0.0.5' },
      args: ['-v'],
    });
    try {
      const a = await allocate({
        host: '127.0.0.1',
        port: server.port,
        ...turnRestCredential(key, user('nat'), inAnHour()),
      });
      try {
        // A permission sends nothing: only the relay's peer check runs.
        const codes = await permissionCodes(a, [
          '10.0.0.5',
          '10.0.0.1',
          '192.168.1.1',
          '100.64.0.1',
          '127.0.0.1',
        ]);
        expect(codes).toEqual({
          '10.0.0.5': 0,
          '10.0.0.1': 403,
          '192.168.1.1': 403,
          '100.64.0.1': 403,
          '127.0.0.1': 403,
        });
      } finally {
        await a.release();
      }
    } finally {
      await server.stop();
    }
  });
});

// Why the entrypoint refuses those secrets: what turnserver itself does with such config lines
// (src/apps/relay/mainrelay.c: parse_arg_string skips every '=' after the option name;
// read_config_file reads 1,023 characters per fgets and parses the rest as another line).
describe('turnserver 4.18 with such lines written directly (bypassing the entrypoint)', () => {
  it('drops the leading = of a secret: credentials signed with it are refused', async () => {
    const key = secret();
    const server = await startCoturn({
      env: { TURN_SECRET: secret() },
      overlay: `static-auth-secret==${key}\n`,
    });
    try {
      expect(
        await allocateCode(server.port, turnRestCredential(`=${key}`, user('eq'), inAnHour())),
      ).toBe(401);
      expect(await allocateCode(server.port, turnRestCredential(key, user('eq'), inAnHour()))).toBe(
        0,
      );
    } finally {
      await server.stop();
    }
  });

  it('allows every peer when the private half of external-ip is the zero address', async () => {
    const key = secret();
    const server = await startCoturn({
      env: { TURN_SECRET: key },
      overlay: 'external-ip=198.51.100.7/0.0.0.0\n',
    });
    try {
      const a = await allocate({
        host: '127.0.0.1',
        port: server.port,
        ...turnRestCredential(key, user('zero'), inAnHour()),
      });
      try {
        // A permission sends nothing: only the peer check runs, and it lets private peers in.
        for (const peer of ['10.0.0.1', '192.168.1.1', '100.64.0.1'])
          await expect(a.createPermission(peer)).resolves.toBeUndefined();
      } finally {
        await a.release();
      }
    } finally {
      await server.stop();
    }
  });

  it('splits a line over 1,023 characters and logs its tail', async () => {
    const tail = `TAIL${randomBytes(8).toString('hex')}`;
    const long = `${'b'.repeat(1100 - tail.length)}${tail}`;
    const server = await startCoturn({
      env: { TURN_SECRET: secret() },
      overlay: `static-auth-secret=${long}\n`,
    });
    try {
      expect(server.log()).toMatch(new RegExp(`Bad configuration format: b*${tail}`));
    } finally {
      await server.stop();
    }
  });
});

describe('limits from the environment (stack keys userQuota, totalQuota, maxBps)', () => {
  it('override the shipped config: per-user and total allocation quotas, bandwidth cap', async () => {
    const key = secret();
    const server = await startCoturn({
      env: { TURN_SECRET: key, TURN_USER_QUOTA: '2', TURN_TOTAL_QUOTA: '3', TURN_MAX_BPS: '64000' },
      args: ['-v'],
    });
    try {
      const alice = turnRestCredential(key, user('alice'), inAnHour());
      const bob = turnRestCredential(key, user('bob'), inAnHour());
      const codes = [];
      for (const cred of [alice, alice, alice, bob, bob]) {
        codes.push(await allocateCode(server.port, cred));
      }
      // alice: 2 of her own, then her quota; bob: the third in all, then the total quota.
      expect(codes).toEqual([0, 0, 486, 0, 486]);
      const caps = [...server.log().matchAll(/(\d+) bytes per second allowed per session/g)];
      expect(caps.at(-1)?.[1]).toBe('64000');
    } finally {
      await server.stop();
    }
  });
});

describe('hashed user ids (TURN_HASH_USER_IDS) with the real turnserver', () => {
  it('allocates with the hashed credential while the relay log never names the user', async () => {
    const key = secret();
    const server = await startCoturn({ env: { TURN_SECRET: key }, args: ['-v'] });
    try {
      const provider = new CoturnProvider({
        secret: key,
        turnUris: [`turn:127.0.0.1:${server.port}`],
        stunUris: [],
        credentialTtl: 3600,
        hashUserIds: true,
      });
      const id = `alice.${randomBytes(4).toString('hex')}@example.com`;
      const turn = (await provider.getIceServers(id)).iceServers.at(-1);
      const cred = { username: turn?.username as string, credential: turn?.credential as string };
      const allocation = await allocate({ host: '127.0.0.1', port: server.port, ...cred });
      await allocation.release();
      await expect
        .poll(() => server.log())
        .toContain(`user <${cred.username}>: incoming packet ALLOCATE processed, success`);
      expect(server.log()).not.toContain(id.split('@')[0]);
    } finally {
      await server.stop();
    }
  });
});
