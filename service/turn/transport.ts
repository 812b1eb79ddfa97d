import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { hostPort } from '../../contract';
import { TurnError } from './error';
import { CLASS, classOf, parseStun, type StunMessage, type TransportAddress } from './message';

/**
 * One client connection to a STUN/TURN server over UDP, TCP or TLS (RFC 8489 §6.2, RFC 8656
 * §3.1): requests matched to answers by transaction id, UDP retransmission, stream framing,
 * and indications (TURN Data) handed to a listener.
 */

export type StunTransport = 'udp' | 'tcp' | 'tls';

export interface ChannelTarget {
  host: string;
  port: number;
  transport: StunTransport;
  /** Bound on connecting and on each request. */
  timeoutMs: number;
  /** UDP: interval between retransmissions (RFC 8489 §6.2.1 starts at 500 ms). */
  retransmitMs?: number;
  /** TLS: trusted CA certificates (PEM) instead of Node's bundled roots. */
  ca?: string | Buffer;
}

export interface StunChannel {
  /** The server address the channel talks to (`host` resolved). */
  readonly server: TransportAddress;
  /** Sends a request and resolves with the success or error response to it. */
  request(message: { packet: Buffer; id: Buffer }): Promise<StunMessage>;
  /** Sends a message that gets no answer (an indication). */
  send(packet: Buffer): void;
  /** Called with every indication the server sends (e.g. TURN Data). */
  onIndication: ((message: StunMessage) => void) | undefined;
  close(): void;
}

export const describeTarget = (t: { host: string; port: number; transport: string }): string =>
  `${hostPort(t.host, t.port)}/${t.transport}`;

/** System error codes that mean "no connection" rather than a TLS problem. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'EADDRNOTAVAIL',
]);

export async function openStunChannel(target: ChannelTarget): Promise<StunChannel> {
  const where = describeTarget(target);
  let address: string;
  let family: number;
  try {
    ({ address, family } = await lookup(target.host));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TurnError(0, `cannot resolve ${target.host} (${code})`, 'unreachable', code);
  }

  const pending = new Map<string, { resolve(m: StunMessage): void; reject(e: Error): void }>();
  let closed: TurnError | undefined;
  const failAll = (err: TurnError) => {
    closed ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  const channel: StunChannel = {
    server: { address, port: target.port },
    onIndication: undefined,
    request: (message) => request(message),
    send: (packet) => write(packet),
    close: () => {
      failAll(new TurnError(0, `connection to ${where} closed`, 'unreachable'));
      close();
    },
  };
  const deliver = (buf: Buffer) => {
    const message = parseStun(buf);
    if (!message) return;
    if (classOf(message.type) === CLASS.indication) {
      channel.onIndication?.(message);
      return;
    }
    const key = message.id.toString('hex');
    pending.get(key)?.resolve(message);
    pending.delete(key);
  };

  let write: (packet: Buffer) => void;
  let close: () => void;
  if (target.transport === 'udp') {
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve) => socket.bind(0, resolve));
    socket.on('message', deliver);
    socket.on('error', (err) =>
      failAll(new TurnError(0, `${where}: ${err.message}`, 'unreachable', errnoOf(err))),
    );
    // After close() a send would throw; late retransmissions and indications are dropped.
    write = (packet) => {
      if (!closed) socket.send(packet, target.port, address);
    };
    close = () => closeQuietly(socket);
  } else {
    const socket = await connectStream(target, address, where);
    let buffered: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      for (;;) {
        const length = frameLength(buffered);
        if (length === undefined || buffered.length < length) break;
        if (length === 0) {
          failAll(new TurnError(0, `${where} sent something other than STUN`, 'protocol'));
          socket.destroy();
          return;
        }
        deliver(buffered.subarray(0, length));
        buffered = buffered.subarray(length);
      }
    });
    socket.on('error', (err) => failAll(streamError(err, target, where)));
    socket.on('close', () =>
      failAll(new TurnError(0, `${where} closed the connection`, 'unreachable')),
    );
    write = (packet) => {
      if (!socket.destroyed) socket.write(packet);
    };
    close = () => socket.destroy();
  }

  const request = (message: { packet: Buffer; id: Buffer }) =>
    new Promise<StunMessage>((resolve, reject) => {
      if (closed) {
        reject(closed);
        return;
      }
      const key = message.id.toString('hex');
      // Over TCP and TLS the stream is reliable: no retransmissions (RFC 8489 §6.2.2).
      const resend =
        target.transport === 'udp'
          ? setInterval(() => write(message.packet), target.retransmitMs ?? 500)
          : undefined;
      const done = () => {
        clearInterval(resend);
        clearTimeout(deadline);
        pending.delete(key);
      };
      const deadline = setTimeout(() => {
        done();
        reject(
          new TurnError(0, `no answer from ${where} within ${target.timeoutMs} ms`, 'timeout'),
        );
      }, target.timeoutMs);
      pending.set(key, {
        resolve: (m) => {
          done();
          resolve(m);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      write(message.packet);
    });
  return channel;
}

/**
 * Bytes of the first frame in a TCP/TLS stream: a STUN message (length in its header) or
 * ChannelData (padded to 4 bytes over streams, RFC 8656 §12.5); undefined while too short
 * to tell; 0 for anything else.
 */
function frameLength(buf: Buffer): number | undefined {
  if (buf.length < 4) return undefined;
  const top = (buf[0] as number) >> 6;
  if (top === 0) return 20 + buf.readUInt16BE(2);
  if (top === 1) return 4 + Math.ceil(buf.readUInt16BE(2) / 4) * 4;
  return 0;
}

function connectStream(target: ChannelTarget, address: string, where: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const tls = target.transport === 'tls';
    // SNI and the certificate check use the name from the URI; for an IP the IP SANs count.
    const socket = tls
      ? tlsConnect({
          host: address,
          port: target.port,
          ...(isIP(target.host) ? {} : { servername: target.host }),
          ...(target.ca ? { ca: target.ca } : {}),
        })
      : netConnect({ host: address, port: target.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new TurnError(
          0,
          `no connection to ${where} within ${target.timeoutMs} ms${tls ? ' (TCP or TLS handshake)' : ''}`,
          'timeout',
        ),
      );
    }, target.timeoutMs);
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(streamError(err, target, where));
    });
  });
}

function errnoOf(err: Error): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

function streamError(err: Error, target: ChannelTarget, where: string): TurnError {
  const code = errnoOf(err);
  if (target.transport === 'tls' && !NETWORK_CODES.has(code ?? '')) {
    return new TurnError(0, `TLS to ${where} failed: ${err.message}`, 'tls', code);
  }
  const what = code === 'ECONNREFUSED' ? 'connection refused' : err.message;
  return new TurnError(0, `${where}: ${what}`, 'unreachable', code);
}

function closeQuietly(socket: UdpSocket): void {
  try {
    socket.close();
  } catch {
    // already closed
  }
}
