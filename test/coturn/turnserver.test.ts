import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocate, TurnError } from '../../service/turn/client';
import {
  COTURN_ROOT,
  LISTENING_EVERYWHERE,
  mintCredential,
  permissionCodes,
  type RunningCoturn,
  runUclient,
  startCoturn,
  startPeer,
} from '../helpers/coturn';
import { escapeRegExp } from '../helpers/regexp';

const secret = () => randomBytes(32).toString('hex');
const uid = (label: string) => `${label}-${randomBytes(4).toString('hex')}`;

/** The server's verbose log line for one request outcome of one user. */
const outcome = (username: string, what: string) =>
  new RegExp(`user <${escapeRegExp(username)}>: incoming packet ${what} processed, `);

/**
 * uclient's arguments: allocate with `cred` on the server at 127.0.0.1, relay `messages` to
 * `peerIp:peerPort` from each of `clients` clients, without RTCP allocations.
 */
function uclientArgs(
  cred: { username: string; credential: string },
  peerIp: string,
  peerPort: number,
  { messages = 1, clients = 1, flags = [] as string[] } = {},
): string[] {
  return [
    ...flags,
    '-u',
    cred.username,
    '-w',
    cred.credential,
    '-e',
    peerIp,
    '-r',
    String(peerPort),
    '-n',
    String(messages),
    '-m',
    String(clients),
    '-c',
    '127.0.0.1',
  ];
}

/**
 * The server accepts the credential: its Allocate succeeds. Relaying between peers is proven
 * in the lab (test/lab/relay.test.ts) between public addresses with the shipped config, and on
 * a relay for this machine alone in local-relay.test.ts.
 */
async function expectAllocated(
  server: RunningCoturn,
  peerPort: number,
  cred: { username: string; credential: string },
  extra: string[] = [],
) {
  const allocated = new RegExp(`${outcome(cred.username, 'ALLOCATE').source}success`);
  await runUclient(server, uclientArgs(cred, '127.0.0.1', peerPort, { flags: extra }), {
    until: allocated,
  });
  expect(server.log()).toMatch(allocated);
  expect(server.log()).not.toMatch(new RegExp(`${outcome(cred.username, '\\w+').source}error 401`));
}

async function expectUnauthorized(
  server: RunningCoturn,
  peerPort: number,
  cred: { username: string; credential: string },
) {
  // A refused Allocate is logged as a "message", not as ALLOCATE.
  const refused = new RegExp(`${outcome(cred.username, '\\w+').source}error 401: Unauthorized`);
  const r = await runUclient(server, uclientArgs(cred, '127.0.0.1', peerPort), { until: refused });
  expect(server.log()).toMatch(refused);
  expect(server.log()).not.toMatch(
    new RegExp(`${outcome(cred.username, 'ALLOCATE').source}success`),
  );
  expect(r.output).not.toMatch(/tot_recv_msgs=[1-9]/);
}

describe('credentials from the coturn provider', () => {
  const key = secret();
  let server: RunningCoturn;
  let peer: Awaited<ReturnType<typeof startPeer>>;

  beforeAll(async () => {
    // Allocations outlive the uclient runs that made them: room for every case in this block.
    server = await startCoturn({
      files: { TURN_SECRET_FILE: `${key}\n` },
      args: ['-v'],
      relayPortCount: 40,
    });
    peer = await startPeer();
  });
  afterAll(async () => {
    await peer?.stop();
    await server?.stop();
  });

  it('are accepted for an allocation over UDP', async () => {
    await expectAllocated(server, peer.port, await mintCredential(key, uid('udp')));
  });

  it('are accepted for an allocation over TCP to the TURN server', async () => {
    await expectAllocated(server, peer.port, await mintCredential(key, uid('tcp')), ['-t']);
  });

  it('refuses a wrong password with 401', async () => {
    const cred = await mintCredential(key, uid('wrongpw'));
    await expectUnauthorized(server, peer.port, {
      ...cred,
      credential: `${cred.credential.slice(0, -4)}AAA=`,
    });
  });

  it('refuses an expired timestamp with 401', async () => {
    const twoHoursAgo = () => Date.now() - 2 * 3600_000;
    await expectUnauthorized(
      server,
      peer.port,
      await mintCredential(key, uid('expired'), { ttl: 60, now: twoHoursAgo }),
    );
  });

  it('refuses a tampered username with 401', async () => {
    const cred = await mintCredential(key, uid('alice'));
    await expectUnauthorized(server, peer.port, {
      ...cred,
      username: cred.username.replace(/:alice-/, ':mallory-'),
    });
  });

  it('refuses a later expiry written into a signed username with 401', async () => {
    const cred = await mintCredential(key, uid('extend'));
    const [expiry, user] = cred.username.split(':');
    await expectUnauthorized(server, peer.port, {
      ...cred,
      username: `${Number(expiry) + 86_400}:${user}`,
    });
  });

  it('refuses credentials signed with an unknown secret with 401', async () => {
    await expectUnauthorized(server, peer.port, await mintCredential(secret(), uid('othersecret')));
  });
});

describe('the shipped config', () => {
  const key = secret();
  let server: RunningCoturn;
  let peer: Awaited<ReturnType<typeof startPeer>>;

  beforeAll(async () => {
    // Allocations outlive the uclient runs that made them: room for every case in this block.
    // Reachable from outside as in production, so the whole deny list applies (loopback too).
    server = await startCoturn({
      env: { TURN_SECRET: key, ...LISTENING_EVERYWHERE },
      args: ['-v'],
      relayPortCount: 40,
    });
    peer = await startPeer();
  });
  afterAll(async () => {
    await peer?.stop();
    await server?.stop();
  });

  it('has only options this turnserver knows', () => {
    expect(server.log()).toMatch(/Coturn-4\.\d+/);
    expect(server.log()).not.toMatch(/Bad configuration format/);
    expect(server.log()).not.toMatch(/allow_loopback_peers/);
    expect(server.log()).toMatch(/--no-tcp-relay: TCP relay endpoints are not allowed/);
  });

  // Only loopback forms: were the deny list broken, a private or metadata peer here would
  // send real traffic off this machine. test/unit/deny-list.test.ts covers those ranges, and
  // test/lab/relay.test.ts tries them, with listeners, inside the lab.
  it.each([
    ['127.0.0.1', []],
    ['127.1.2.3', []],
    ['0.0.0.0', []],
    ['::1', ['-x']],
    ['::', ['-x']],
  ])(
    'refuses a relay to %s with 403 while the allocation itself succeeds',
    async (peerIp, flags) => {
      const cred = await mintCredential(key, uid('peer'));
      const forbidden = new RegExp(
        `${outcome(cred.username, '(CREATE_PERMISSION|CHANNEL_BIND)').source}error 403: Forbidden IP`,
      );
      const r = await runUclient(server, uclientArgs(cred, peerIp, peer.port, { flags }), {
        until: forbidden,
      });
      expect(server.log()).toMatch(forbidden);
      expect(server.log()).toMatch(
        new RegExp(`${outcome(cred.username, 'ALLOCATE').source}success`),
      );
      expect(server.log()).not.toMatch(
        new RegExp(`${outcome(cred.username, '(CREATE_PERMISSION|CHANNEL_BIND)').source}success`),
      );
      expect(r.output).not.toMatch(/tot_recv_msgs=[1-9]/);
    },
  );

  it('refuses ::ffff:127.0.0.1 (CVE-2026-27624) on an IPv6 allocation', async () => {
    // uclient sends this peer as IPv4; 4.18 refuses the family mismatch before the deny list.
    const cred = await mintCredential(key, uid('mapped'));
    const refused = new RegExp(
      `user <${escapeRegExp(cred.username)}>: .*error (403|440|443)|error (403|440|443)`,
    );
    const r = await runUclient(
      server,
      uclientArgs(cred, '::ffff:127.0.0.1', peer.port, { flags: ['-x'] }),
      { timeoutMs: 4000 },
    );
    expect(`${r.output}\n${server.log()}`).toMatch(refused);
    expect(server.log()).not.toMatch(
      new RegExp(`${outcome(cred.username, '(CREATE_PERMISSION|CHANNEL_BIND)').source}success`),
    );
    expect(r.output).not.toMatch(/tot_recv_msgs=[1-9]/);
  });
});

describe('the shipped deny list and IPv6 spellings of IPv4 addresses', () => {
  const key = secret();
  let server: RunningCoturn;
  beforeAll(async () => {
    server = await startCoturn({ env: { TURN_SECRET: key }, relayPortCount: 4 });
  });
  afterAll(async () => server?.stop());

  // A permission sends nothing to the peer: only the relay's peer check runs.
  it('refuses IPv4-translated and other ::/8 forms, and still permits a public IPv6 peer', async () => {
    const a = await allocate({
      host: '::1',
      port: server.port,
      family: 'ipv6',
      ...(await mintCredential(key, uid('v6'))),
    });
    expect(a.relayed.address).toBe('::1');
    try {
      const codes = await permissionCodes(a, [
        '::ffff:0:7f00:1',
        '::1:7f00:1',
        '0:0:1::7f00:1',
        '::1:a00:1',
        '2606:4700::1111',
      ]);
      expect(codes).toEqual({
        '::ffff:0:7f00:1': 403,
        '::1:7f00:1': 403,
        '0:0:1::7f00:1': 403,
        '::1:a00:1': 403,
        '2606:4700::1111': 0,
      });
    } finally {
      await a.release();
    }
  });
});

describe('secret rotation', () => {
  const oldKey = secret();
  const newKey = secret();

  it('accepts new- and old-signed credentials while both are configured, then only new ones', async () => {
    const peer = await startPeer();
    const both = await startCoturn({
      env: { TURN_SECRET: newKey, TURN_SECRET_PREVIOUS: oldKey },
      args: ['-v'],
    });
    try {
      await expectAllocated(both, peer.port, await mintCredential(newKey, uid('new')));
      await expectAllocated(both, peer.port, await mintCredential(oldKey, uid('old')));
    } finally {
      await both.stop();
    }
    const onlyNew = await startCoturn({ env: { TURN_SECRET: newKey }, args: ['-v'] });
    try {
      await expectAllocated(onlyNew, peer.port, await mintCredential(newKey, uid('new')));
      await expectUnauthorized(onlyNew, peer.port, await mintCredential(oldKey, uid('old')));
    } finally {
      await onlyNew.stop();
      await peer.stop();
    }
  });
});

describe('the secret stays out of sight', () => {
  const current = secret();
  const previous = secret();
  let server: RunningCoturn;

  beforeAll(async () => {
    server = await startCoturn({
      files: { TURN_SECRET_FILE: current, TURN_SECRET_PREVIOUS_FILE: `${previous}\n` },
    });
  });
  afterAll(async () => server?.stop());

  it('is on neither the command line nor in the environment of turnserver, or of the file watcher', () => {
    const pid = server.process.pid as number;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    expect(cmdline).toMatch(/^turnserver -c \/turnkey-test\/\w+\/run\/turnserver\.conf/);
    // The watcher the entrypoint leaves running beside turnserver (its child once exec'd).
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ');
    const watcher = children.find((c) =>
      readFileSync(`/proc/${c}/cmdline`, 'utf8').endsWith('entrypoint.sh\0'),
    );
    expect(watcher, 'the watcher process').toBeDefined();
    for (const p of [pid, watcher]) {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      const environ = readFileSync(`/proc/${p}/environ`, 'utf8');
      for (const s of [current, previous]) {
        expect(cmd).not.toContain(s);
        expect(environ).not.toContain(s);
      }
    }
    for (const s of [current, previous]) expect(server.log()).not.toContain(s);
  });

  it('is in a database only the turnserver user can read, not in the config; one row per secret', () => {
    const cmdline = readFileSync(`/proc/${server.process.pid}/cmdline`, 'utf8').split('\0');
    const config = readFileSync(join(COTURN_ROOT, cmdline[2] as string), 'utf8');
    for (const s of [current, previous]) expect(config).not.toContain(s);
    const db = config.match(/^userdb=(.+)$/m)?.[1] as string;
    const st = statSync(join(COTURN_ROOT, db));
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(65534);
    expect(statSync(join(COTURN_ROOT, dirname(db))).mode & 0o777).toBe(0o700);
    const rows = execFileSync(
      'chroot',
      [COTURN_ROOT, 'sqlite3', db, 'select realm, value from turn_secret'],
      {
        encoding: 'utf8',
      },
    );
    expect(rows.trim().split('\n').sort()).toEqual(
      [`turnkey|${current}`, `turnkey|${previous}`].sort(),
    );
  });
});

describe('entrypoint refuses bad input with one clear line', () => {
  const key = secret();
  it.each([
    [
      'no secret',
      {},
      {},
      /^turnkey-coturn: TURN_SECRET is required: set TURN_SECRET or TURN_SECRET_FILE/,
    ],
    [
      'an empty secret file',
      {},
      { TURN_SECRET_FILE: '\n' },
      /^turnkey-coturn: TURN_SECRET is required/,
    ],
    [
      'an unreadable secret file',
      { TURN_SECRET_FILE: '/nonexistent/secret' },
      {},
      /^turnkey-coturn: TURN_SECRET_FILE names a file that cannot be read: \/nonexistent\/secret/,
    ],
    [
      'both forms',
      { TURN_SECRET: key },
      { TURN_SECRET_FILE: key },
      /^turnkey-coturn: TURN_SECRET and TURN_SECRET_FILE are both set/,
    ],
    // 32 characters, as the service requires: relay and service refuse the same secrets.
    [
      'a 31-character secret',
      { TURN_SECRET: 'a'.repeat(31) },
      {},
      /^turnkey-coturn: TURN_SECRET is too short: use at least 32 characters/,
    ],
    [
      'a 31-character previous secret',
      { TURN_SECRET: key, TURN_SECRET_PREVIOUS: 'b'.repeat(31) },
      {},
      /^turnkey-coturn: TURN_SECRET_PREVIOUS is too short: use at least 32 characters/,
    ],
    [
      'a secret that would inject a config line',
      { TURN_SECRET: `${key}\nallow-loopback-peers` },
      {},
      /^turnkey-coturn: TURN_SECRET may contain only/,
    ],
    [
      'a bad previous secret',
      { TURN_SECRET: key, TURN_SECRET_PREVIOUS: 'x y' },
      {},
      /^turnkey-coturn: TURN_SECRET_PREVIOUS may contain only|TURN_SECRET_PREVIOUS is too short/,
    ],
    [
      'a bad port',
      { TURN_SECRET: key, TURN_PORT: '99999' },
      {},
      /^turnkey-coturn: TURN_PORT must be from 1 to 65535/,
    ],
    [
      'a bad relay range',
      { TURN_SECRET: key, TURN_RELAY_PORTS: '60000-50000' },
      {},
      /^turnkey-coturn: TURN_RELAY_PORTS must be MIN-MAX with MIN <= MAX/,
    ],
    [
      'a bad external IP',
      { TURN_SECRET: key, EXTERNAL_IP: '1.2.3.4\nallow-loopback-peers' },
      {},
      /^turnkey-coturn: EXTERNAL_IP must be IP addresses/,
    ],
    [
      'half a TLS pair',
      { TURN_SECRET: key, TURN_TLS_CERT_FILE: '/nonexistent.pem' },
      {},
      /^turnkey-coturn: TURN_TLS_CERT_FILE names a file that cannot be read/,
    ],
  ])('%s', async (_name, env, files, message) => {
    const server = await startCoturn({ env, files, waitReady: false });
    const code = await server.exited;
    const out = server.log().trim();
    await server.stop();
    expect(code).toBe(64);
    expect(out.split('\n')).toHaveLength(1);
    expect(out).toMatch(message);
    expect(out).not.toContain(key);
  });
});

describe('per-user quota (user-quota=12 in the shipped config)', () => {
  it('allows 12 allocations for one username and refuses the rest with 486', async () => {
    const key = secret();
    // Relay ports for all 14 allocations, so only the quota can refuse them.
    const server = await startCoturn({
      env: { TURN_SECRET: key },
      args: ['-v'],
      relayPortCount: 60,
    });
    const cred = await mintCredential(key, uid('quota'));
    const held = [];
    const refused: unknown[] = [];
    try {
      for (let i = 0; i < 14; i++) {
        try {
          held.push(await allocate({ host: '127.0.0.1', port: server.port, ...cred }));
        } catch (err) {
          refused.push(err);
        }
      }
      expect(held).toHaveLength(12);
      expect(refused).toHaveLength(2);
      for (const err of refused) expect((err as TurnError).code).toBe(486);
      expect(server.log()).toMatch(
        new RegExp(`${outcome(cred.username, '\\w+').source}error 486: Allocation Quota Reached`),
      );
    } finally {
      await Promise.all(held.map((a) => a.release()));
      await server.stop();
    }
  });
});

describe('the project’s own TURN client (service/turn/client.ts) against the real turnserver', () => {
  const key = secret();
  let server: RunningCoturn;
  beforeAll(async () => {
    server = await startCoturn({ env: { TURN_SECRET: key }, args: ['-v'], relayPortCount: 40 });
  });
  afterAll(async () => server?.stop());

  it('allocates with minted credentials, gets a relayed address in the relay range, and releases it', async () => {
    const cred = await mintCredential(key, uid('client'));
    const allocation = await allocate({
      host: '127.0.0.1',
      port: server.port,
      username: cred.username,
      credential: cred.credential,
    });
    expect(allocation.relayed.address).toBe('127.0.0.1');
    expect(allocation.relayed.port).toBeGreaterThanOrEqual(server.relayPorts[0]);
    expect(allocation.relayed.port).toBeLessThanOrEqual(server.relayPorts[1]);
    await allocation.release();
    const released = new RegExp(`${outcome(cred.username, 'REFRESH').source}success`);
    await expect.poll(() => released.test(server.log())).toBe(true);
  });

  it('reports 401 for a wrong credential and for a foreign secret', async () => {
    const cred = await mintCredential(key, uid('client'));
    for (const bad of [
      { ...cred, credential: 'wrong' },
      await mintCredential(secret(), uid('foreign')),
    ]) {
      const err = await allocate({ host: '127.0.0.1', port: server.port, ...bad }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TurnError);
      expect((err as TurnError).code).toBe(401);
    }
  });
});

describe('the TURN client over UDP and TCP (relaying itself is proven in the lab)', () => {
  const key = secret();
  let server: RunningCoturn;
  beforeAll(async () => {
    server = await startCoturn({ env: { TURN_SECRET: key }, relayPortCount: 10 });
  });
  afterAll(async () => server?.stop());

  for (const transport of ['udp', 'tcp'] as const) {
    it(`over ${transport}: server-reflexive address, granted lifetime, refresh, release`, async () => {
      const a = await allocate({
        host: '127.0.0.1',
        port: server.port,
        transport,
        ...(await mintCredential(key, uid(transport))),
      });
      try {
        expect(a.mapped?.address).toBe('127.0.0.1');
        expect(a.lifetime).toBeGreaterThan(0);
        expect(await a.refresh(1200)).toBe(1200); // within Coturn's 600-3600 s bounds
      } finally {
        await a.release();
      }
      // Released: the connection is closed, so a further refresh cannot reach the relay.
      await expect(a.refresh()).rejects.toMatchObject({ kind: 'unreachable' });
    });
  }
});

describe('the TURN client against the shipped config', () => {
  const key = secret();
  let server: RunningCoturn;
  beforeAll(async () => {
    server = await startCoturn({
      env: { TURN_SECRET: key, ...LISTENING_EVERYWHERE },
      relayPortCount: 6,
    });
  });
  afterAll(async () => server?.stop());

  it('reports a denied peer (loopback) as 403 on CreatePermission', async () => {
    const a = await allocate({
      host: '127.0.0.1',
      port: server.port,
      ...(await mintCredential(key, uid('deny'))),
    });
    try {
      const err = await a.createPermission('127.0.0.1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TurnError);
      expect(err).toMatchObject({ code: 403, kind: 'refused', operation: 'permission' });
    } finally {
      await a.release();
    }
  });

  it('reports a closed TCP port as unreachable and a silent UDP port as a timeout', async () => {
    const cred = await mintCredential(key, uid('closed'));
    const port = server.relayPorts[1] + 1;
    const tcp = await allocate({ host: '127.0.0.1', port, transport: 'tcp', ...cred }).catch(
      (e: unknown) => e,
    );
    expect(tcp).toMatchObject({
      kind: 'unreachable',
      systemCode: 'ECONNREFUSED',
      operation: 'connect',
    });
    const udp = await allocate({ host: '127.0.0.1', port, timeoutMs: 700, ...cred }).catch(
      (e: unknown) => e,
    );
    expect(udp).toMatchObject({ kind: 'timeout', operation: 'allocate' });
  });
});

describe('the shipped deny list and public IPv4 peers', () => {
  const key = secret();
  let server: RunningCoturn;
  beforeAll(async () => {
    server = await startCoturn({ env: { TURN_SECRET: key }, args: ['-v'], relayPortCount: 4 });
  });
  afterAll(async () => server?.stop());

  // A permission sends nothing to the peer: only the relay's peer check is exercised.
  it('lets a client create a permission for a public IPv4 peer', async () => {
    const a = await allocate({
      host: '127.0.0.1',
      port: server.port,
      ...(await mintCredential(key, uid('pub'))),
    });
    try {
      const err = await a.createPermission('11.0.0.50').catch((e: unknown) => e);
      await expect.poll(() => server.log()).toMatch(/CREATE_PERMISSION processed/);
      const denial = /A peer IP 11\.0\.0\.50 denied in the range: (\S+)/.exec(server.log());
      expect(denial?.[1] ?? 'no range', 'the range that denied a public IPv4 peer').toBe(
        'no range',
      );
      expect(err).toBeUndefined();
    } finally {
      await a.release();
    }
  });
});
