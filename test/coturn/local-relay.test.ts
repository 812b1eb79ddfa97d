import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintCredential, type RunningCoturn, runUclient, startCoturn } from '../helpers/coturn';
import { escapeRegExp } from '../helpers/regexp';

/**
 * A relay for this machine alone, as the dev stack runs it (turnkey:listeningIps 127.0.0.1):
 * every listening and relay address loopback, no external address. Nobody outside the machine
 * reaches it, so relaying to its own loopback addresses opens nothing new, and two clients on
 * the machine (a developer's two tabs) must relay to each other. The same shipped config
 * listening on every interface, as production does, still refuses those peers: the deny list.
 */

const key = randomBytes(32).toString('hex');
const MESSAGES = 5;

/** uclient client-to-client (-y): two allocations on this server relaying to each other. */
async function clientToClient(server: RunningCoturn, flags: string[] = []) {
  const cred = await mintCredential(key, `local-${randomBytes(4).toString('hex')}`);
  const r = await runUclient(
    server,
    [
      '-y',
      ...flags,
      '-u',
      cred.username,
      '-w',
      cred.credential,
      '-n',
      String(MESSAGES),
      '-m',
      '1',
      '-c',
      '127.0.0.1',
    ],
    { timeoutMs: 20_000 },
  );
  return { ...r, cred };
}

const forbidden = (username: string) =>
  new RegExp(
    `user <${escapeRegExp(username)}>: incoming packet (CREATE_PERMISSION|CHANNEL_BIND) processed, error 403`,
  );

describe('listening and relaying on loopback only (the dev stack)', () => {
  let server: RunningCoturn;
  beforeAll(async () => {
    server = await startCoturn({
      env: { TURN_SECRET: key, TURN_LISTENING_IPS: '127.0.0.1', TURN_RELAY_IPS: '127.0.0.1' },
      args: ['-v'],
      relayPortCount: 20,
    });
  });
  afterAll(async () => server?.stop());

  it.each([
    ['UDP', []],
    ['TCP', ['-t']],
  ])('relays every message between two clients on this machine over %s', async (_name, flags) => {
    const r = await clientToClient(server, flags);
    const context = `${r.output}\n--- server ---\n${server.log()}`;
    expect(r.code, context).toBe(0);
    expect(r.output, context).toMatch(
      new RegExp(`tot_send_msgs=${2 * MESSAGES}, tot_recv_msgs=${2 * MESSAGES}\\b`),
    );
    expect(server.log()).not.toMatch(forbidden(r.cred.username));
  });

  it('says so at start, and opens only its own address: other loopback addresses stay refused', async () => {
    expect(server.log()).toMatch(
      /listening and relaying on loopback only: peers at the relay's own loopback addresses are allowed/,
    );
    const cred = await mintCredential(key, `other-${randomBytes(4).toString('hex')}`);
    await runUclient(
      server,
      [
        '-u',
        cred.username,
        '-w',
        cred.credential,
        '-e',
        '127.1.2.3',
        '-r',
        '9',
        '-n',
        '1',
        '-m',
        '1',
        '-c',
        '127.0.0.1',
      ],
      { until: forbidden(cred.username), timeoutMs: 10_000 },
    );
    expect(server.log()).toMatch(forbidden(cred.username));
  });
});

describe('the same config listening on every interface (reachable from outside, as in production)', () => {
  let server: RunningCoturn;
  beforeAll(async () => {
    // Clients still come in on loopback and relay from it; only the listeners are wider.
    server = await startCoturn({
      env: { TURN_SECRET: key, TURN_LISTENING_IPS: '', TURN_RELAY_IPS: '127.0.0.1' },
      args: ['-v'],
      relayPortCount: 10,
    });
  });
  afterAll(async () => server?.stop());

  it('refuses its own loopback address as a peer: client to client gets 403 and nothing arrives', async () => {
    const r = await clientToClient(server);
    expect(server.log()).toMatch(forbidden(r.cred.username));
    expect(r.output).not.toMatch(/tot_recv_msgs=[1-9]/);
    expect(server.log()).not.toMatch(/allowed \(a relay for this machine alone\)/);
  });
});
