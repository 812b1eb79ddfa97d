import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import {
  encodeStun as encode,
  exchangeUdp,
  MAGIC_COOKIE,
  type StunMessage as Message,
} from './stun-message';

/**
 * A minimal TURN client over UDP (RFC 8656): Allocate with long-term credentials, then
 * release. Enough to prove that a relay accepts the credentials the service mints (a stronger
 * readiness signal than a STUN binding) and to measure allocations in bench/.
 */

const METHOD = { allocate: 0x003, refresh: 0x004 } as const;
const CLASS_SUCCESS = 0x100;
const CLASS_ERROR = 0x110;
const ATTR = {
  username: 0x0006,
  errorCode: 0x0009,
  lifetime: 0x000d,
  realm: 0x0014,
  nonce: 0x0015,
  xorRelayedAddress: 0x0016,
  requestedTransport: 0x0019,
} as const;
const UDP = 17;

export class TurnError extends Error {
  override readonly name = 'TurnError';
  constructor(
    readonly code: number,
    reason: string,
  ) {
    super(`TURN error ${code}${reason ? `: ${reason}` : ''}`);
  }
}

function errorOf(m: Message): TurnError {
  const v = m.attrs.get(ATTR.errorCode);
  if (!v || v.length < 4) return new TurnError(0, 'error response without ERROR-CODE');
  return new TurnError(
    ((v[2] as number) & 7) * 100 + (v[3] as number),
    v.subarray(4).toString('utf8'),
  );
}

export interface AllocateOptions {
  host: string;
  port: number;
  username: string;
  credential: string;
  timeoutMs?: number;
}

export interface Allocation {
  /** The relayed transport address the server assigned. */
  relayed: { address: string; port: number };
  /** Deletes the allocation (Refresh with lifetime 0) and closes the socket. */
  release(): Promise<void>;
  /** See refreshAllocation below. */
  refresh(lifetimeSeconds: number): Promise<number>;
}

export async function allocate(opts: AllocateOptions): Promise<Allocation> {
  // 437: the server still holds an allocation for this 5-tuple (the OS reused a local port
  // whose allocation was just released). RFC 8656 §7.2: retry from another local address.
  for (let attempt = 1; ; attempt++) {
    try {
      return await allocateFrom(opts);
    } catch (err) {
      if (!(err instanceof TurnError && err.code === 437) || attempt >= 3) throw err;
    }
  }
}

async function allocateFrom(opts: AllocateOptions): Promise<Allocation> {
  const { address, family } = await lookup(opts.host);
  const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
  const timeoutMs = opts.timeoutMs ?? 3000;
  await new Promise<void>((resolve) => socket.bind(0, resolve));

  const transact = (packet: Buffer, id: Buffer) =>
    exchangeUdp(packet, id, {
      socket,
      address,
      port: opts.port,
      timeoutMs,
      // RFC 8489's 500 ms: sooner, a slow answer meets a duplicate request.
      retransmitMs: 500,
      timeoutError: () =>
        new TurnError(0, `no answer from ${opts.host}:${opts.port} within ${timeoutMs} ms`),
    });

  const transport = Buffer.from([UDP, 0, 0, 0]);
  try {
    // The first request is refused with 401 and carries the realm and nonce to sign with.
    const first = encode(METHOD.allocate, [[ATTR.requestedTransport, transport]]);
    const challenge = await transact(first.packet, first.id);
    if (challenge.type !== (METHOD.allocate | CLASS_ERROR))
      throw new TurnError(0, 'expected a 401 challenge');
    const realm = challenge.attrs.get(ATTR.realm);
    let nonce = challenge.attrs.get(ATTR.nonce);
    if (!realm || !nonce) throw errorOf(challenge);
    const key = createHash('md5')
      .update(`${opts.username}:${realm.toString('utf8')}:${opts.credential}`)
      .digest();
    const signed = (method: number, extra: [number, Buffer][]) =>
      encode(
        method,
        [
          ...extra,
          [ATTR.username, Buffer.from(opts.username)],
          [ATTR.realm, realm],
          [ATTR.nonce, nonce as Buffer],
        ],
        key,
      );

    let answer: Message | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      const req = signed(METHOD.allocate, [[ATTR.requestedTransport, transport]]);
      answer = await transact(req.packet, req.id);
      if (answer.type !== (METHOD.allocate | CLASS_ERROR) || errorOf(answer).code !== 438) break;
      nonce = answer.attrs.get(ATTR.nonce) ?? nonce; // stale nonce: once more with the new one
    }
    if (answer?.type !== (METHOD.allocate | CLASS_SUCCESS)) throw errorOf(answer as Message);
    const xor = answer.attrs.get(ATTR.xorRelayedAddress);
    if (xor?.[1] !== 0x01) throw new TurnError(0, 'no IPv4 XOR-RELAYED-ADDRESS in the answer');
    const relayed = {
      port: xor.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16),
      address: [0, 1, 2, 3]
        .map((i) => (xor[4 + i] as number) ^ ((MAGIC_COOKIE >>> (24 - 8 * i)) & 0xff))
        .join('.'),
    };
    return {
      relayed,
      refresh: (lifetime) =>
        refreshAllocation((method, extra) => {
          const req = signed(method, extra);
          return transact(req.packet, req.id);
        }, lifetime),
      release: async () => {
        try {
          const req = signed(METHOD.refresh, [[ATTR.lifetime, Buffer.from([0, 0, 0, 0])]]);
          await transact(req.packet, req.id);
        } finally {
          closeQuietly(socket);
        }
      },
    };
  } catch (err) {
    closeQuietly(socket);
    throw err;
  }
}

function closeQuietly(socket: Socket): void {
  try {
    socket.close();
  } catch {
    // already closed
  }
}

/** Sends one request on an allocation's socket, signed with its credentials and nonce. */
type SignedTransaction = (method: number, attrs: [number, Buffer][]) => Promise<Message>;

/**
 * Refresh (RFC 8656 §7): asks the server to keep the allocation for `lifetimeSeconds` more and
 * resolves with the lifetime it granted. The request is signed with the credentials the
 * allocation was made with; Coturn checks their expiry only when it first derives a session's
 * key, so a refresh after expiry still succeeds (see README "Credential lifetime"). Errors,
 * including 438 Stale Nonce (the nonce is not renewed here), reject with a TurnError.
 */
async function refreshAllocation(
  send: SignedTransaction,
  lifetimeSeconds: number,
): Promise<number> {
  const lifetime = Buffer.alloc(4);
  lifetime.writeUInt32BE(lifetimeSeconds);
  const answer = await send(METHOD.refresh, [[ATTR.lifetime, lifetime]]);
  if (answer.type !== (METHOD.refresh | CLASS_SUCCESS)) throw errorOf(answer);
  const granted = answer.attrs.get(ATTR.lifetime);
  if (granted?.length !== 4) throw new TurnError(0, 'no LIFETIME in the Refresh answer');
  return granted.readUInt32BE(0);
}
