import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { createServer } from 'node:tls';
import {
  type AddressFamily,
  ATTR,
  ATTR_MESSAGE_INTEGRITY,
  CLASS,
  decodeXorAddress,
  encodeErrorCode,
  encodeStun,
  encodeXorAddress,
  familyOf,
  METHOD,
  methodOf,
  parseStun,
  type StunMessage,
} from '../../service/turn/message';

/**
 * A loopback turns: stand-in that really relays, so `turnkey check` can succeed against a
 * certificate of the test's choosing: one allocation per TLS connection with a UDP socket on
 * 127.0.0.1 behind it, Send indications out of it and Data indications for what arrives.
 * Any signed request passes (fake-turn.ts checks credentials; this one is about the TLS).
 * Without a certificate it serves turn: over plain TCP instead; `opts` shape it as an IPv6 or
 * dual-stack relay: where it listens, which relayed address families it has (IPv6 ones on ::1;
 * another is refused with 440, as Coturn does), and what an Allocate asking for none gets.
 */

export interface FakeTurnsOptions {
  /** Where it listens (default 127.0.0.1); ::1 makes clients reach it over IPv6. */
  host?: string;
  /** The relayed address families it has (default both: a dual-stack relay). */
  families?: AddressFamily[];
  /**
   * What an Allocate without REQUESTED-ADDRESS-FAMILY gets: ipv4 (RFC 8656 §7.2, Coturn's
   * default) or keep (the family the client came in over: allocation-default-address-family=keep).
   */
  defaultFamily?: 'ipv4' | 'keep';
}

export interface FakeTurns {
  port: number;
  /** Allocations granted so far. */
  allocations: () => number;
  /** Every signed Allocate: the family it asked for (undefined: none) and what it got. */
  allocateRequests: () => { requested?: AddressFamily; relayed?: string; error?: number }[];
  /** Relayed addresses not released yet. */
  live: () => number;
  close(): Promise<void>;
}

type AllocateRecord = ReturnType<FakeTurns['allocateRequests']>[number];

const lifetime = (seconds: number) => {
  const value = Buffer.alloc(4);
  value.writeUInt32BE(seconds);
  return value;
};

function serve(
  socket: Socket,
  opts: FakeTurnsOptions,
  record: (r: AllocateRecord) => void,
  live: (delta: number) => void,
): void {
  let relay: UdpSocket | undefined;
  const release = () => {
    if (!relay) return;
    relay.close();
    relay = undefined;
    live(-1);
  };
  const reply = (req: StunMessage, cls: number, attrs: [number, Buffer][] = []) => {
    if (!socket.destroyed)
      socket.write(encodeStun(methodOf(req.type) | cls, attrs, undefined, req.id).packet);
  };
  const mapped = (req: StunMessage): [number, Buffer] => [
    ATTR.xorMappedAddress,
    encodeXorAddress(
      { address: socket.remoteAddress as string, port: socket.remotePort as number },
      req.id,
    ),
  ];
  const handle = async (req: StunMessage) => {
    const method = methodOf(req.type);
    if (req.type === (METHOD.send | CLASS.indication)) {
      const peer = decodeXorAddress(req.attrs.get(ATTR.xorPeerAddress), req.id);
      const data = req.attrs.get(ATTR.data);
      if (peer && data && relay && familyOf(peer.address) === relayFamily(relay))
        relay.send(data, peer.port, peer.address);
      return;
    }
    if (method === METHOD.binding) return reply(req, CLASS.success, [mapped(req)]);
    if (!req.attrs.has(ATTR_MESSAGE_INTEGRITY)) {
      return reply(req, CLASS.error, [
        [ATTR.errorCode, encodeErrorCode(401, 'Unauthorized')],
        [ATTR.realm, Buffer.from('turnkey')],
        [ATTR.nonce, Buffer.from('0123456789abcdef')],
      ]);
    }
    if (method === METHOD.allocate) {
      const asked = req.attrs.get(ATTR.requestedAddressFamily)?.[0];
      const requested = asked === 2 ? 'ipv6' : asked === 1 ? 'ipv4' : undefined;
      const family =
        requested ??
        (opts.defaultFamily === 'keep'
          ? familyOf(socket.remoteAddress as string)
          : ('ipv4' as const));
      if (!(opts.families ?? ['ipv4', 'ipv6']).includes(family)) {
        record({ ...(requested ? { requested } : {}), error: 440 });
        return reply(req, CLASS.error, [[ATTR.errorCode, encodeErrorCode(440, '')]]);
      }
      const address = family === 'ipv6' ? '::1' : '127.0.0.1';
      const udp = createSocket(family === 'ipv6' ? 'udp6' : 'udp4');
      await new Promise<void>((resolve) => udp.bind(0, address, resolve));
      udp.on('message', (data, from) => {
        const id = Buffer.alloc(12, 7);
        const attrs: [number, Buffer][] = [
          [ATTR.xorPeerAddress, encodeXorAddress({ address: from.address, port: from.port }, id)],
          [ATTR.data, data],
        ];
        if (!socket.destroyed)
          socket.write(encodeStun(METHOD.data | CLASS.indication, attrs, undefined, id).packet);
      });
      relay = udp;
      live(1);
      const { port } = udp.address() as AddressInfo;
      record({ ...(requested ? { requested } : {}), relayed: address });
      return reply(req, CLASS.success, [
        [ATTR.xorRelayedAddress, encodeXorAddress({ address, port }, req.id)],
        mapped(req),
        [ATTR.lifetime, lifetime(600)],
      ]);
    }
    if (method === METHOD.refresh) {
      const asked = req.attrs.get(ATTR.lifetime)?.readUInt32BE(0) ?? 600;
      if (asked === 0) release();
      return reply(req, CLASS.success, [[ATTR.lifetime, lifetime(asked)]]);
    }
    if (method === METHOD.permission) {
      // RFC 8656 §9.1: a peer of the other family than the relayed address's is refused.
      const peer = decodeXorAddress(req.attrs.get(ATTR.xorPeerAddress), req.id);
      if (peer && relay && familyOf(peer.address) !== relayFamily(relay)) {
        return reply(req, CLASS.error, [
          [ATTR.errorCode, encodeErrorCode(443, 'Peer Address Family Mismatch')],
        ]);
      }
    }
    // CreatePermission and anything else: granted.
    reply(req, CLASS.success);
  };

  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 20 && buffered.length >= 20 + buffered.readUInt16BE(2)) {
      const length = 20 + buffered.readUInt16BE(2);
      const req = parseStun(buffered.subarray(0, length));
      buffered = buffered.subarray(length);
      if (req) void handle(req);
    }
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', release);
}

const relayFamily = (relay: UdpSocket): AddressFamily =>
  familyOf((relay.address() as AddressInfo).address);

/** turns: with `tls`; turn: over plain TCP without. */
export async function startFakeTurns(
  tls: { cert: string; key: string } | undefined,
  opts: FakeTurnsOptions = {},
): Promise<FakeTurns> {
  const records: AllocateRecord[] = [];
  let live = 0;
  const open = new Set<Socket>();
  const onConnection = (socket: Socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    serve(
      socket,
      opts,
      (r) => records.push(r),
      (delta) => {
        live += delta;
      },
    );
  };
  const server = tls ? createServer(tls, onConnection) : createTcpServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, opts.host ?? '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    allocations: () => records.filter((r) => r.relayed).length,
    allocateRequests: () => [...records],
    live: () => live,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
