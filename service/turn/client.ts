import { createHash, randomBytes } from 'node:crypto';
import { TurnError } from './error';
import {
  type AddressFamily,
  ATTR,
  CLASS,
  decodeXorAddress,
  encodeStun,
  encodeXorAddress,
  METHOD,
  type StunMessage,
  type TransportAddress,
} from './message';
import { openStunChannel, type StunChannel, type StunTransport } from './transport';

export { TurnError, type TurnFailure } from './error';
export { type AddressFamily, familyOf, type TransportAddress } from './message';
export type { StunTransport } from './transport';

/**
 * A TURN client (RFC 8656) over UDP, TCP or TLS: Allocate with long-term credentials (the
 * 401 realm/nonce challenge, 438 stale nonce), Refresh and release, CreatePermission, and
 * data through Send and Data indications. It proves that a relay accepts the credentials the
 * service mints (/readyz) and that data really crosses it (`turnkey check`).
 */

/** REQUESTED-TRANSPORT: UDP relaying, the only kind the shipped config allows. */
const UDP_RELAY = Buffer.from([17, 0, 0, 0]);

function errorOf(m: StunMessage): TurnError {
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
  /** How the client reaches the server (default udp). Relaying itself is always UDP. */
  transport?: StunTransport;
  /** Bound on connecting and on each request (default 3000 ms). */
  timeoutMs?: number;
  /** TLS: CA certificates (PEM) to trust instead of Node's bundled roots. */
  ca?: string | Buffer;
  /** Requested allocation lifetime in seconds (the server may shorten it). */
  lifetime?: number;
  /**
   * The relayed address's family (REQUESTED-ADDRESS-FAMILY, RFC 8656 §7.2); without it servers
   * give IPv4, and so they do to browsers, which never ask. A server without a relay address
   * of the family refuses with 440 (Address Family not Supported).
   */
  family?: AddressFamily;
}

export interface Allocation {
  /** The relayed transport address the server assigned. */
  relayed: TransportAddress;
  /** This client's address as the server saw it (server-reflexive), if the server said. */
  mapped: TransportAddress | undefined;
  /** Seconds the allocation lives without a refresh, as granted. */
  lifetime: number;
  /** Lets `peer` (an IP address) send to the relayed address (RFC 8656 §9). */
  createPermission(peer: string): Promise<void>;
  /** Relays `data` to `peer` through the allocation (a Send indication; needs a permission). */
  send(peer: TransportAddress, data: Buffer): void;
  /** Called with data a permitted peer sent to the relayed address; returns an unsubscribe. */
  onData(listener: (data: Buffer, from: TransportAddress) => void): () => void;
  /** Extends the allocation; resolves with the lifetime the server granted. */
  refresh(lifetime?: number): Promise<number>;
  /** Deletes the allocation (Refresh with lifetime 0) and closes the connection. */
  release(): Promise<void>;
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

function lifetimeAttr(seconds: number): [number, Buffer] {
  const value = Buffer.alloc(4);
  value.writeUInt32BE(seconds, 0);
  return [ATTR.lifetime, value];
}

/**
 * A signed Allocate refused with 403 is Coturn draining whatever its reason says: that is the
 * only 403 handle_turn_allocate gives (ns_turn_server.c, `is_draining`), and 4.18 sends no
 * reason text at all unless include-reason-string is on, which the shipped config leaves off
 * (it would raise the amplification factor).
 */
function asDrainingAllocate(err: unknown): unknown {
  if (!(err instanceof TurnError) || err.code !== 403 || err.kind === 'draining') return err;
  return new TurnError(err.code, err.reason, 'draining');
}

/** Runs `step`, labelling any TurnError it throws with the TURN operation that failed. */
async function labelled<T>(operation: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof TurnError) err.operation ??= operation;
    throw err;
  }
}

async function allocateFrom(opts: AllocateOptions): Promise<Allocation> {
  const transport = opts.transport ?? 'udp';
  const channel = await labelled('connect', () =>
    openStunChannel({
      host: opts.host,
      port: opts.port,
      transport,
      timeoutMs: opts.timeoutMs ?? 3000,
      // RFC 8489's 500 ms: sooner, a slow answer meets a duplicate request.
      retransmitMs: 500,
      ...(opts.ca ? { ca: opts.ca } : {}),
    }),
  );
  try {
    return await labelled('allocate', () => signIn(channel, opts));
  } catch (err) {
    channel.close();
    throw err;
  }
}

async function signIn(channel: StunChannel, opts: AllocateOptions): Promise<Allocation> {
  const allocateAttrs: [number, Buffer][] = [[ATTR.requestedTransport, UDP_RELAY]];
  if (opts.lifetime !== undefined) allocateAttrs.push(lifetimeAttr(opts.lifetime));
  if (opts.family !== undefined)
    allocateAttrs.push([
      ATTR.requestedAddressFamily,
      Buffer.from([opts.family === 'ipv6' ? 0x02 : 0x01, 0, 0, 0]),
    ]);
  // The first request is refused with 401 and carries the realm and nonce to sign with.
  const challenge = await channel.request(encodeStun(METHOD.allocate, allocateAttrs));
  if (challenge.type !== (METHOD.allocate | CLASS.error))
    throw new TurnError(0, 'expected a 401 challenge to an unsigned Allocate');
  const realm = challenge.attrs.get(ATTR.realm);
  let nonce = challenge.attrs.get(ATTR.nonce);
  if (!realm || !nonce) throw errorOf(challenge);
  const key = createHash('md5')
    .update(`${opts.username}:${realm.toString('utf8')}:${opts.credential}`)
    .digest();

  /** A signed request; a 438 (stale nonce) is retried once with the fresh nonce. */
  const transact = async (method: number, attrs: (id: Buffer) => [number, Buffer][]) => {
    for (let attempt = 0; ; attempt++) {
      const id = randomBytes(12);
      const signed: [number, Buffer][] = [
        ...attrs(id),
        [ATTR.username, Buffer.from(opts.username)],
        [ATTR.realm, realm],
        [ATTR.nonce, nonce as Buffer],
      ];
      const answer = await channel.request(encodeStun(method, signed, key, id));
      if (answer.type === (method | CLASS.success)) return answer;
      const err = errorOf(answer);
      if (err.code !== 438 || attempt > 0) throw err;
      nonce = answer.attrs.get(ATTR.nonce) ?? nonce;
    }
  };

  const granted = await transact(METHOD.allocate, () => allocateAttrs).catch((err: unknown) => {
    throw asDrainingAllocate(err);
  });
  const relayed = decodeXorAddress(granted.attrs.get(ATTR.xorRelayedAddress), granted.id);
  if (!relayed) throw new TurnError(0, 'no XOR-RELAYED-ADDRESS in the Allocate answer');
  const mapped = decodeXorAddress(granted.attrs.get(ATTR.xorMappedAddress), granted.id);
  const lifetimeOf = (m: StunMessage) => m.attrs.get(ATTR.lifetime)?.readUInt32BE(0) ?? 0;

  const listeners = new Set<(data: Buffer, from: TransportAddress) => void>();
  channel.onIndication = (m) => {
    if (m.type !== (METHOD.data | CLASS.indication)) return;
    const from = decodeXorAddress(m.attrs.get(ATTR.xorPeerAddress), m.id);
    const data = m.attrs.get(ATTR.data);
    if (from && data) for (const l of listeners) l(Buffer.from(data), from);
  };

  let released = false;
  return {
    relayed,
    mapped,
    lifetime: lifetimeOf(granted),
    createPermission: (peer) =>
      labelled('permission', async () => {
        await transact(METHOD.permission, (id) => [
          [ATTR.xorPeerAddress, encodeXorAddress({ address: peer, port: 0 }, id)],
        ]);
      }),
    send: (peer, data) => {
      const id = randomBytes(12);
      const attrs: [number, Buffer][] = [
        [ATTR.xorPeerAddress, encodeXorAddress(peer, id)],
        [ATTR.data, data],
      ];
      channel.send(encodeStun(METHOD.send | CLASS.indication, attrs, undefined, id).packet);
    },
    onData: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    refresh: (lifetime) =>
      labelled('refresh', async () =>
        lifetimeOf(
          await transact(METHOD.refresh, () =>
            lifetime === undefined ? [] : [lifetimeAttr(lifetime)],
          ),
        ),
      ),
    release: async () => {
      if (released) return;
      released = true;
      try {
        await labelled('release', () => transact(METHOD.refresh, () => [lifetimeAttr(0)]));
      } finally {
        channel.close();
      }
    },
  };
}
