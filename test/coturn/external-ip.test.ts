import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocate } from '../../service/turn/client';
import {
  entrypointOutcome,
  mintCredential,
  permissionCodes,
  type RunningCoturn,
  startCoturn,
} from '../helpers/coturn';
import { ACCEPTED_EXTERNAL_IPS, REFUSED_EXTERNAL_IPS } from '../helpers/external-ip-cases';

/**
 * EXTERNAL_IP on the real turnserver 4.18: one PUBLIC/PRIVATE pair, or an IPv4 and an IPv6 pair
 * comma-separated, each its own external-ip line. Coturn adds a mapping per line and allows
 * its private half as a peer, logging "Whitelisting external-ip private part: PRIVATE"
 * (mainrelay.c `case 'X'`, right after ioa_addr_add_mapping). What the entrypoint refuses is the
 * stack reader's table (test/helpers/external-ip-cases.ts).
 */

const key = randomBytes(32).toString('hex');
const mapped = (log: string) =>
  [...log.matchAll(/Whitelisting external-ip private part: (\S+)/g)].map((m) => m[1]);

describe('entrypoint: EXTERNAL_IP it refuses', () => {
  it.each(REFUSED_EXTERNAL_IPS)('refuses %s with one line saying why', async (value, why) => {
    const { code, out } = await entrypointOutcome({
      env: { TURN_SECRET: key, EXTERNAL_IP: value },
    });
    expect(code).toBe(64);
    expect(out.split('\n')).toHaveLength(1);
    expect(out).toMatch(/^turnkey-coturn: EXTERNAL_IP[ '].*\(turnkey:externalIp\)/);
    expect(out).toMatch(why);
  });
});

describe('EXTERNAL_IP with an IPv4 and an IPv6 pair', () => {
  let server: RunningCoturn;
  beforeAll(async () => {
    server = await startCoturn({
      env: { TURN_SECRET: key, EXTERNAL_IP: '198.51.100.7/10.0.0.5,3ffe:11::10/fd00::5' },
    });
  });
  afterAll(async () => server?.stop());

  it('gives turnserver one mapping per pair, both taken', () => {
    expect(mapped(server.log())).toEqual(['10.0.0.5', 'fd00::5']);
    expect(server.log()).not.toMatch(/Wrong address format|cannot define external IP/);
  });

  it('relays to the IPv4 private half alone of the private range', async () => {
    const a = await allocate({
      host: '127.0.0.1',
      port: server.port,
      ...(await mintCredential(key, `nat-${randomBytes(4).toString('hex')}`)),
    });
    try {
      expect(await permissionCodes(a, ['10.0.0.5', '10.0.0.6'])).toEqual({
        '10.0.0.5': 0,
        '10.0.0.6': 403,
      });
    } finally {
      await a.release();
    }
  });
});

describe('entrypoint: EXTERNAL_IP it accepts', () => {
  it.each(ACCEPTED_EXTERNAL_IPS)('starts turnserver with %s, a mapping per pair', async (value) => {
    const server = await startCoturn({ env: { TURN_SECRET: key, EXTERNAL_IP: value } });
    try {
      expect(mapped(server.log())).toEqual(value.split(',').map((pair) => pair.split('/')[1]));
    } finally {
      await server.stop();
    }
  });
});
