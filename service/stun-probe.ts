import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { connect } from 'node:net';
import {
  decodeStun,
  encodeStun,
  exchangeUdp,
  HEADER_LENGTH,
  type StunMessage,
} from './stun-message';

/**
 * A bare STUN Binding request (RFC 8489 §6): the cheapest real proof that a STUN/TURN
 * server is up and reachable on a given listener. No credentials are involved.
 */

const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
/** RFC 8489 §6.2.1 starts at 500 ms; a loopback or same-host probe answers far sooner. */
const UDP_RETRANSMIT_MS = 200;

export interface StunProbeTarget {
  host: string;
  port: number;
  transport: 'udp' | 'tcp';
  timeoutMs: number;
}

/** Resolves with the round-trip time in milliseconds; rejects with a reason safe to show. */
export async function probeStun(target: StunProbeTarget): Promise<number> {
  const { address, family } = await lookup(target.host);
  const started = performance.now();
  const { packet, id } = encodeStun(BINDING_REQUEST);
  const answer = await (target.transport === 'udp'
    ? probeUdp(address, family, target, packet, id)
    : probeTcp(address, target, packet, id));
  if (answer.type !== BINDING_SUCCESS)
    throw new Error('server answered with a STUN error response');
  return Math.round(performance.now() - started);
}

async function probeUdp(
  address: string,
  family: number,
  target: StunProbeTarget,
  packet: Buffer,
  id: Buffer,
): Promise<StunMessage> {
  const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
  try {
    return await exchangeUdp(packet, id, {
      socket,
      address,
      port: target.port,
      timeoutMs: target.timeoutMs,
      retransmitMs: UDP_RETRANSMIT_MS,
      timeoutError: () => new Error(`no answer within ${target.timeoutMs} ms`),
    });
  } finally {
    socket.close();
  }
}

function probeTcp(
  address: string,
  target: StunProbeTarget,
  packet: Buffer,
  id: Buffer,
): Promise<StunMessage> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port: target.port });
    let received = Buffer.alloc(0);
    const finish = (result: StunMessage | Error) => {
      clearTimeout(deadline);
      socket.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const deadline = setTimeout(
      () => finish(new Error(`no answer within ${target.timeoutMs} ms`)),
      target.timeoutMs,
    );
    socket.on('connect', () => socket.write(packet));
    socket.on('error', (err) => finish(new Error(err.message)));
    socket.on('end', () => finish(new Error('connection closed before a STUN response')));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < HEADER_LENGTH) return;
      finish(
        decodeStun(received, id) ?? new Error('server answered with something other than STUN'),
      );
    });
  });
}
