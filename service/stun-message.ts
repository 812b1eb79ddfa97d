import { createHmac, randomBytes } from 'node:crypto';
import type { Socket } from 'node:dgram';

/**
 * STUN message framing (RFC 8489 §5, §14) and one request/response exchange over UDP, shared
 * by the readiness probe (a bare Binding) and the TURN client (Allocate, Refresh).
 */

export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_LENGTH = 20;
export const ATTR_MESSAGE_INTEGRITY = 0x0008;

export interface StunMessage {
  type: number;
  attrs: Map<number, Buffer>;
}

function attribute(type: number, value: Buffer): Buffer {
  const padded = Buffer.alloc(4 + Math.ceil(value.length / 4) * 4);
  padded.writeUInt16BE(type, 0);
  padded.writeUInt16BE(value.length, 2);
  value.copy(padded, 4);
  return padded;
}

/** A request; with `key`, MESSAGE-INTEGRITY (HMAC-SHA1 over the message so far) goes last. */
export function encodeStun(
  type: number,
  attrs: [number, Buffer][] = [],
  key?: Buffer,
): { packet: Buffer; id: Buffer } {
  const id = randomBytes(12);
  const body = Buffer.concat(attrs.map(([t, v]) => attribute(t, v)));
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt16BE(type, 0);
  header.writeUInt16BE(body.length + (key ? 24 : 0), 2);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  id.copy(header, 8);
  const unsigned = Buffer.concat([header, body]);
  if (!key) return { packet: unsigned, id };
  const mac = createHmac('sha1', key).update(unsigned).digest();
  return { packet: Buffer.concat([unsigned, attribute(ATTR_MESSAGE_INTEGRITY, mac)]), id };
}

/** The message in `buf` if it is STUN and answers transaction `id`; otherwise undefined. */
export function decodeStun(buf: Buffer, id: Buffer): StunMessage | undefined {
  if (buf.length < HEADER_LENGTH || buf.readUInt32BE(4) !== MAGIC_COOKIE) return undefined;
  if (!buf.subarray(8, HEADER_LENGTH).equals(id)) return undefined;
  const attrs = new Map<number, Buffer>();
  for (let off = HEADER_LENGTH; off + 4 <= buf.length; ) {
    const type = buf.readUInt16BE(off);
    const len = buf.readUInt16BE(off + 2);
    attrs.set(type, buf.subarray(off + 4, off + 4 + len));
    off += 4 + Math.ceil(len / 4) * 4;
  }
  return { type: buf.readUInt16BE(0), attrs };
}

export interface UdpExchange {
  socket: Socket;
  address: string;
  port: number;
  timeoutMs: number;
  /** Interval between retransmissions of the same request (RFC 8489 §6.2.1 starts at 500 ms). */
  retransmitMs: number;
  /** The error for a request that got no answer in time. */
  timeoutError: () => Error;
}

/** Sends `packet` until the answer to `id` arrives, the time runs out or the socket fails. */
export function exchangeUdp(
  packet: Buffer,
  id: Buffer,
  { socket, address, port, timeoutMs, retransmitMs, timeoutError }: UdpExchange,
): Promise<StunMessage> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearInterval(resend);
      clearTimeout(deadline);
      socket.off('message', onMessage);
      socket.off('error', onError);
    };
    const onMessage = (buf: Buffer) => {
      const message = decodeStun(buf, id);
      if (!message) return;
      done();
      resolve(message);
    };
    const onError = (err: Error) => {
      done();
      reject(new Error(err.message));
    };
    const send = () => socket.send(packet, port, address);
    const resend = setInterval(send, retransmitMs);
    const deadline = setTimeout(() => {
      done();
      reject(timeoutError());
    }, timeoutMs);
    socket.on('message', onMessage);
    socket.on('error', onError);
    send();
  });
}
