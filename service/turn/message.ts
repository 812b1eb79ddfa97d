import { createHmac, randomBytes } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * STUN message framing (RFC 8489 §5, §14): requests, indications and XOR-encoded transport
 * addresses, shared by the readiness probe (a bare Binding) and the TURN client.
 */

export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_LENGTH = 20;
export const ATTR_MESSAGE_INTEGRITY = 0x0008;

/** The methods turnkey speaks (RFC 8489 §18.2, RFC 8656 §17). */
export const METHOD = {
  binding: 0x001,
  allocate: 0x003,
  refresh: 0x004,
  send: 0x006,
  data: 0x007,
  permission: 0x008,
} as const;

/** The attributes turnkey reads or writes (RFC 8489 §18.3, RFC 8656 §17). */
export const ATTR = {
  username: 0x0006,
  errorCode: 0x0009,
  lifetime: 0x000d,
  xorPeerAddress: 0x0012,
  data: 0x0013,
  realm: 0x0014,
  nonce: 0x0015,
  xorRelayedAddress: 0x0016,
  requestedAddressFamily: 0x0017,
  requestedTransport: 0x0019,
  xorMappedAddress: 0x0020,
} as const;

/** An ERROR-CODE value (RFC 8489 §14.8): class and number, then the reason phrase. */
export function encodeErrorCode(code: number, reason: string): Buffer {
  return Buffer.concat([
    Buffer.from([0, 0, Math.floor(code / 100), code % 100]),
    Buffer.from(reason),
  ]);
}

/** Message classes (RFC 8489 §5), or-ed into a method to make a message type. */
export const CLASS = { request: 0x000, indication: 0x010, success: 0x100, error: 0x110 } as const;
const CLASS_MASK = 0x110;

export interface StunMessage {
  type: number;
  /** The 12-byte transaction id. */
  id: Buffer;
  attrs: Map<number, Buffer>;
}

export interface TransportAddress {
  address: string;
  port: number;
}

/** An IP address family as REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.1) names it. */
export type AddressFamily = 'ipv4' | 'ipv6';

/** The family of an IP address (anything not IPv6 counts as IPv4). */
export const familyOf = (address: string): AddressFamily => (isIPv6(address) ? 'ipv6' : 'ipv4');

export const classOf = (type: number): number => type & CLASS_MASK;
export const methodOf = (type: number): number => type & ~CLASS_MASK & 0x3fff;

function attribute(type: number, value: Buffer): Buffer {
  const padded = Buffer.alloc(4 + Math.ceil(value.length / 4) * 4);
  padded.writeUInt16BE(type, 0);
  padded.writeUInt16BE(value.length, 2);
  value.copy(padded, 4);
  return padded;
}

/**
 * A message; with `key`, MESSAGE-INTEGRITY (HMAC-SHA1 over the message so far) goes last.
 * `id` is fresh unless given (an XOR-PEER-ADDRESS over IPv6 needs it before encoding).
 */
export function encodeStun(
  type: number,
  attrs: [number, Buffer][] = [],
  key?: Buffer,
  id: Buffer = randomBytes(12),
): { packet: Buffer; id: Buffer } {
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

/** The STUN message in `buf`, or undefined if it is not one. */
export function parseStun(buf: Buffer): StunMessage | undefined {
  if (buf.length < HEADER_LENGTH || (buf[0] as number) >> 6 !== 0) return undefined;
  if (buf.readUInt32BE(4) !== MAGIC_COOKIE) return undefined;
  const attrs = new Map<number, Buffer>();
  const end = Math.min(buf.length, HEADER_LENGTH + buf.readUInt16BE(2));
  for (let off = HEADER_LENGTH; off + 4 <= end; ) {
    const type = buf.readUInt16BE(off);
    const len = buf.readUInt16BE(off + 2);
    // The first occurrence counts (RFC 8489 §14); later duplicates are ignored.
    if (!attrs.has(type)) attrs.set(type, buf.subarray(off + 4, off + 4 + len));
    off += 4 + Math.ceil(len / 4) * 4;
  }
  return { type: buf.readUInt16BE(0), id: Buffer.from(buf.subarray(8, HEADER_LENGTH)), attrs };
}

/** The message in `buf` if it is STUN and answers transaction `id`; otherwise undefined. */
export function decodeStun(buf: Buffer, id: Buffer): StunMessage | undefined {
  const message = parseStun(buf);
  return message?.id.equals(id) ? message : undefined;
}

/** The mask an XOR address is xor-ed with: the magic cookie, then (IPv6) the transaction id. */
function xorMask(id: Buffer): Buffer {
  const mask = Buffer.alloc(16);
  mask.writeUInt32BE(MAGIC_COOKIE, 0);
  id.copy(mask, 4);
  return mask;
}

/** Decodes an XOR-MAPPED-ADDRESS, XOR-RELAYED-ADDRESS or XOR-PEER-ADDRESS value. */
export function decodeXorAddress(
  value: Buffer | undefined,
  id: Buffer,
): TransportAddress | undefined {
  if (!value || value.length < 8) return undefined;
  const family = value[1];
  const mask = xorMask(id);
  const port = value.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16);
  if (family === 0x01) {
    const bytes = [0, 1, 2, 3].map((i) => (value[4 + i] as number) ^ (mask[i] as number));
    return { address: bytes.join('.'), port };
  }
  if (family === 0x02 && value.length >= 20) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) {
      const hi = (value[4 + i] as number) ^ (mask[i] as number);
      const lo = (value[5 + i] as number) ^ (mask[i + 1] as number);
      groups.push(((hi << 8) | lo).toString(16));
    }
    // The URL parser prints an IPv6 address in its canonical (RFC 5952) form.
    return { address: new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1), port };
  }
  return undefined;
}

/** Encodes an IPv4 or IPv6 transport address as an XOR-…-ADDRESS value for transaction `id`. */
export function encodeXorAddress({ address, port }: TransportAddress, id: Buffer): Buffer {
  const mask = xorMask(id);
  const raw = isIPv4(address) ? Buffer.from(address.split('.').map(Number)) : ipv6Bytes(address);
  const value = Buffer.alloc(4 + raw.length);
  value[1] = raw.length === 4 ? 0x01 : 0x02;
  value.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), 2);
  for (let i = 0; i < raw.length; i++) value[4 + i] = (raw[i] as number) ^ (mask[i] as number);
  return value;
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail = ''] = address.split('::');
  const parts = (s: string) => (s === '' ? [] : s.split(':'));
  const h = parts(head);
  const t = parts(tail);
  const groups = address.includes('::')
    ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
    : h;
  if (groups.length !== 8) throw new Error(`not an IP address: ${address}`);
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  return out;
}
