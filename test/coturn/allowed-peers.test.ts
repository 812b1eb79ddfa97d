import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocate } from '../../service/turn/client';
import { REFUSED_ALLOWANCES } from '../helpers/allowed-peer-cases';
import {
  entrypointOutcome,
  LISTENING_EVERYWHERE,
  mintCredential,
  permissionCodes,
  type RunningCoturn,
  startCoturn,
} from '../helpers/coturn';
import { escapeRegExp } from '../helpers/regexp';

/**
 * TURN_ALLOWED_PEER_IPS on the real turnserver: the entrypoint turns each CIDR range into the
 * IP-IP form Coturn takes ("CIDR is not supported", userdb.c add_ip_list_range), leaves
 * Alibaba Cloud's metadata address out of a range holding it, and refuses what the stack
 * reader refuses (one table, test/helpers/allowed-peer-cases.ts), for a relay listening on
 * every interface as production does. Relaying to those peers from a private segment is the
 * lab's test (test/lab/private-network.test.ts); here a permission is enough, which sends
 * nothing to the peer.
 */

const key = randomBytes(32).toString('hex');
const uid = (label: string) => `${label}-${randomBytes(4).toString('hex')}`;

describe('entrypoint: TURN_ALLOWED_PEER_IPS it refuses', () => {
  it.each(REFUSED_ALLOWANCES)('refuses %s with one line saying why', async (entry, why) => {
    const { code, out } = await entrypointOutcome({
      env: {
        TURN_SECRET: key,
        ...LISTENING_EVERYWHERE,
        TURN_ALLOWED_PEER_IPS: `10.20.0.0/16,${entry}`,
      },
    });
    expect(code).toBe(64);
    expect(out.split('\n')).toHaveLength(1);
    expect(out).toMatch(
      new RegExp(
        `^turnkey-coturn: TURN_ALLOWED_PEER_IPS: ${escapeRegExp(entry)} .*\\(turnkey:allowedPeerIps\\)$`,
      ),
    );
    expect(out).toMatch(why);
  });
});

describe('TURN_ALLOWED_PEER_IPS on a relay listening everywhere', () => {
  let server: RunningCoturn;
  beforeAll(async () => {
    server = await startCoturn({
      env: {
        TURN_SECRET: key,
        ...LISTENING_EVERYWHERE,
        TURN_ALLOWED_PEER_IPS: '10.20.0.0/16,192.168.7.5,100.64.0.0/10',
      },
      relayPortCount: 4,
    });
  });
  afterAll(async () => server?.stop());

  it('gives turnserver the ranges in its IP-IP form, metadata left out', () => {
    const listed = [...server.log().matchAll(/White listing: (\S+)/g)].map((m) => m[1]);
    expect(listed).toEqual([
      '10.20.0.0-10.20.255.255',
      '192.168.7.5',
      '100.64.0.0-100.100.100.199',
      '100.100.100.201-100.127.255.255',
    ]);
    expect(server.log()).toMatch(
      /peers in 10\.20\.0\.0\/16,192\.168\.7\.5,100\.64\.0\.0\/10 are allowed/,
    );
  });

  it('permits peers inside the ranges and refuses the rest of the deny list', async () => {
    const a = await allocate({
      host: '127.0.0.1',
      port: server.port,
      ...(await mintCredential(key, uid('vpc'))),
    });
    try {
      const codes = await permissionCodes(a, [
        '10.20.0.1',
        '10.20.255.254',
        '192.168.7.5',
        '100.64.0.1',
        '100.100.100.201',
        '10.21.0.1',
        '192.168.7.6',
        '100.100.100.200',
        '169.254.169.254',
        '127.0.0.1',
        '172.16.0.1',
      ]);
      expect(codes).toEqual({
        '10.20.0.1': 0,
        '10.20.255.254': 0,
        '192.168.7.5': 0,
        '100.64.0.1': 0,
        '100.100.100.201': 0,
        '10.21.0.1': 403,
        '192.168.7.6': 403,
        '100.100.100.200': 403,
        '169.254.169.254': 403,
        '127.0.0.1': 403,
        '172.16.0.1': 403,
      });
    } finally {
      await a.release();
    }
  });
});
