import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import {
  ATTR,
  ATTR_MESSAGE_INTEGRITY,
  CLASS,
  encodeErrorCode,
  encodeStun,
  encodeXorAddress,
  METHOD,
  methodOf,
  parseStun,
} from '../../service/turn/message';

/**
 * A loopback UDP stand-in for Coturn, for the service tests' /readyz: answers Binding, and
 * Allocate / Refresh with long-term credentials checked as `use-auth-secret` does (401 with
 * realm and nonce first; then MESSAGE-INTEGRITY with the key from the username, the secret and
 * the realm). Without a secret any signature passes. The Coturn suite uses the real turnserver.
 * `refuseAllocate` makes it answer a signed Allocate with an error instead, after the credential
 * checked out, as Coturn answers one while draining (403, see DRAINING_REASON).
 */

/** Coturn 4.18's reason for an Allocate refused while draining (ns_turn_server.c). */
export const DRAINING_REASON = 'Server is draining, then will shutdown, please try another server';

export interface FakeTurn {
  port: number;
  /** Allocations granted so far. */
  allocations: () => number;
  /** Signed Allocates answered with the error of refuseAllocate so far. */
  refusals: () => number;
  /** Answer signed Allocates with this error from now on; undefined grants them again. */
  refuseAllocate(error: { code: number; reason: string } | undefined): void;
  close(): Promise<void>;
}

const REALM = 'turnkey';
/** Whether the MESSAGE-INTEGRITY of `msg` (the last attribute) matches `key`. */
function signedWith(msg: Buffer, key: Buffer): boolean {
  const miAt = msg.length - 24;
  if (miAt < 20 || msg.readUInt16BE(miAt) !== ATTR_MESSAGE_INTEGRITY) return false;
  const mac = createHmac('sha1', key).update(msg.subarray(0, miAt)).digest();
  return mac.equals(msg.subarray(miAt + 4));
}

export async function startFakeTurn(opts: { secret?: string } = {}): Promise<FakeTurn> {
  const socket = createSocket('udp4');
  const nonce = randomBytes(8).toString('hex');
  let allocations = 0;
  let refusals = 0;
  let refusal: { code: number; reason: string } | undefined;
  socket.on('message', (msg, rinfo) => {
    const req = parseStun(msg);
    if (!req) return;
    const method = methodOf(req.type);
    const reply = (cls: number, attrs: [number, Buffer][]) =>
      socket.send(
        encodeStun(method | cls, attrs, undefined, req.id).packet,
        rinfo.port,
        rinfo.address,
      );
    const mapped: [number, Buffer] = [
      ATTR.xorMappedAddress,
      encodeXorAddress({ address: rinfo.address, port: rinfo.port }, req.id),
    ];
    if (method === METHOD.binding) return reply(CLASS.success, [mapped]);
    if (method !== METHOD.allocate && method !== METHOD.refresh) return;
    const username = req.attrs.get(ATTR.username)?.toString();
    const challenge = (): void =>
      reply(CLASS.error, [
        [ATTR.errorCode, encodeErrorCode(401, 'Unauthorized')],
        [ATTR.realm, Buffer.from(REALM)],
        [ATTR.nonce, Buffer.from(nonce)],
      ]);
    if (!username || !req.attrs.has(ATTR_MESSAGE_INTEGRITY)) return challenge();
    if (opts.secret !== undefined) {
      const password = createHmac('sha1', opts.secret).update(username).digest('base64');
      const key = createHash('md5').update(`${username}:${REALM}:${password}`).digest();
      if (!signedWith(msg, key)) return challenge();
    }
    const lifetime = Buffer.alloc(4);
    lifetime.writeUInt32BE(method === METHOD.allocate ? 600 : 0);
    if (method === METHOD.refresh) return reply(CLASS.success, [[ATTR.lifetime, lifetime]]);
    if (refusal) {
      refusals++;
      return reply(CLASS.error, [[ATTR.errorCode, encodeErrorCode(refusal.code, refusal.reason)]]);
    }
    allocations++;
    reply(CLASS.success, [
      [ATTR.xorRelayedAddress, encodeXorAddress({ address: '127.0.0.1', port: 40000 }, req.id)],
      mapped,
      [ATTR.lifetime, lifetime],
    ]);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address() as AddressInfo;
  return {
    port,
    allocations: () => allocations,
    refusals: () => refusals,
    refuseAllocate: (error) => {
      refusal = error;
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** A loopback UDP port with nothing listening on it (bound, read, released). */
export async function unusedUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address() as AddressInfo;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}
