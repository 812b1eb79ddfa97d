import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import {
  ATTR,
  ATTR_MESSAGE_INTEGRITY,
  CLASS,
  decodeXorAddress,
  encodeErrorCode,
  encodeStun,
  encodeXorAddress,
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
 */

export interface FakeTurns {
  port: number;
  /** Allocations granted so far. */
  allocations: () => number;
  close(): Promise<void>;
}

const lifetime = (seconds: number) => {
  const value = Buffer.alloc(4);
  value.writeUInt32BE(seconds);
  return value;
};

function serve(socket: TLSSocket, granted: () => void): void {
  let relay: UdpSocket | undefined;
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
      if (peer && data && relay) relay.send(data, peer.port, peer.address);
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
      const udp = createSocket('udp4');
      await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
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
      granted();
      const { port } = udp.address() as AddressInfo;
      return reply(req, CLASS.success, [
        [ATTR.xorRelayedAddress, encodeXorAddress({ address: '127.0.0.1', port }, req.id)],
        mapped(req),
        [ATTR.lifetime, lifetime(600)],
      ]);
    }
    if (method === METHOD.refresh) {
      const asked = req.attrs.get(ATTR.lifetime)?.readUInt32BE(0) ?? 600;
      if (asked === 0) relay?.close();
      if (asked === 0) relay = undefined;
      return reply(req, CLASS.success, [[ATTR.lifetime, lifetime(asked)]]);
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
  socket.on('close', () => relay?.close());
}

export async function startFakeTurns(tls: { cert: string; key: string }): Promise<FakeTurns> {
  let allocations = 0;
  const open = new Set<TLSSocket>();
  const server = createServer(tls, (socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    serve(socket, () => allocations++);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    allocations: () => allocations,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
