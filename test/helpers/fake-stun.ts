import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';

/**
 * Answers STUN Binding requests on loopback UDP with a bare success response. Only for the
 * service tests' /readyz; the Coturn suite probes the real turnserver instead.
 */
export async function startFakeStun(): Promise<{ port: number; close(): Promise<void> }> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    if (msg.length < 20 || msg.readUInt16BE(0) !== 0x0001) return;
    const res = Buffer.from(msg.subarray(0, 20));
    res.writeUInt16BE(0x0101, 0);
    res.writeUInt16BE(0, 2);
    socket.send(res, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address() as AddressInfo;
  return { port, close: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
}

/** A loopback UDP port with nothing listening on it (bound, read, released). */
export async function unusedUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address() as AddressInfo;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}
