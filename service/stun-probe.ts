import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { connect } from 'node:net';

/**
 * A bare STUN Binding request (RFC 8489 §6): the cheapest real proof that a STUN/TURN
 * server is up and reachable on a given listener. No credentials are involved.
 */

const MAGIC_COOKIE = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const HEADER_LENGTH = 20;
/** RFC 8489 §6.2.1 starts at 500 ms; a loopback or same-host probe answers far sooner. */
const UDP_RETRANSMIT_MS = 200;

export interface StunProbeTarget {
  host: string;
  port: number;
  transport: 'udp' | 'tcp';
  timeoutMs: number;
}

function bindingRequest(): { packet: Buffer; transactionId: Buffer } {
  const transactionId = randomBytes(12);
  const packet = Buffer.alloc(HEADER_LENGTH);
  packet.writeUInt16BE(BINDING_REQUEST, 0);
  packet.writeUInt16BE(0, 2);
  packet.writeUInt32BE(MAGIC_COOKIE, 4);
  transactionId.copy(packet, 8);
  return { packet, transactionId };
}

/** `undefined` while the message is not ours; otherwise whether it is a success response. */
function matchResponse(msg: Buffer, transactionId: Buffer): boolean | undefined {
  if (msg.length < HEADER_LENGTH || msg.readUInt32BE(4) !== MAGIC_COOKIE) return undefined;
  if (!msg.subarray(8, 20).equals(transactionId)) return undefined;
  return msg.readUInt16BE(0) === BINDING_SUCCESS;
}

/** Resolves with the round-trip time in milliseconds; rejects with a reason safe to show. */
export async function probeStun(target: StunProbeTarget): Promise<number> {
  const { address, family } = await lookup(target.host);
  const started = performance.now();
  const { packet, transactionId } = bindingRequest();
  await (target.transport === 'udp'
    ? probeUdp(address, family, target, packet, transactionId)
    : probeTcp(address, target, packet, transactionId));
  return Math.round(performance.now() - started);
}

function probeUdp(
  address: string,
  family: number,
  target: StunProbeTarget,
  packet: Buffer,
  transactionId: Buffer,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    const finish = (err?: Error) => {
      clearInterval(resend);
      clearTimeout(deadline);
      socket.close();
      if (err) reject(err);
      else resolve();
    };
    const send = () => socket.send(packet, target.port, address);
    const resend = setInterval(send, UDP_RETRANSMIT_MS);
    const deadline = setTimeout(
      () => finish(new Error(`no answer within ${target.timeoutMs} ms`)),
      target.timeoutMs,
    );
    socket.on('error', (err) => finish(new Error(err.message)));
    socket.on('message', (msg) => {
      const ok = matchResponse(msg, transactionId);
      if (ok === undefined) return;
      finish(ok ? undefined : new Error('server answered with a STUN error response'));
    });
    send();
  });
}

function probeTcp(
  address: string,
  target: StunProbeTarget,
  packet: Buffer,
  transactionId: Buffer,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port: target.port });
    let received = Buffer.alloc(0);
    const finish = (err?: Error) => {
      clearTimeout(deadline);
      socket.destroy();
      if (err) reject(err);
      else resolve();
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
      const ok = matchResponse(received, transactionId);
      if (ok === undefined) finish(new Error('server answered with something other than STUN'));
      else finish(ok ? undefined : new Error('server answered with a STUN error response'));
    });
  });
}
