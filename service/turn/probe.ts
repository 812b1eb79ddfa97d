import { TurnError } from './error';
import {
  ATTR,
  CLASS,
  decodeXorAddress,
  encodeStun,
  METHOD,
  type TransportAddress,
} from './message';
import { openStunChannel, type StunTransport } from './transport';

/**
 * A bare STUN Binding request (RFC 8489 §6): the cheapest real proof that a STUN/TURN
 * server is up and reachable on a given listener. No credentials are involved.
 */

/** RFC 8489 §6.2.1 starts at 500 ms; a loopback or same-host probe answers far sooner. */
const UDP_RETRANSMIT_MS = 200;

export interface StunProbeTarget {
  host: string;
  port: number;
  transport: StunTransport;
  timeoutMs: number;
  /** TLS: CA certificates (PEM) to trust instead of Node's bundled roots. */
  ca?: string | Buffer;
}

export interface Binding {
  /** Round-trip time in milliseconds. */
  rtt: number;
  /** This client's address as the server saw it (server-reflexive). */
  mapped: TransportAddress | undefined;
}

/** One Binding; rejects with a TurnError whose message is safe to show. */
export async function bindStun(target: StunProbeTarget): Promise<Binding> {
  const channel = await openStunChannel({ ...target, retransmitMs: UDP_RETRANSMIT_MS });
  try {
    const started = performance.now();
    const answer = await channel.request(encodeStun(METHOD.binding));
    if (answer.type !== (METHOD.binding | CLASS.success))
      throw new TurnError(0, 'server answered with a STUN error response');
    return {
      rtt: Math.round(performance.now() - started),
      mapped: decodeXorAddress(answer.attrs.get(ATTR.xorMappedAddress), answer.id),
    };
  } finally {
    channel.close();
  }
}

/** Resolves with the round-trip time in milliseconds; rejects with a reason safe to show. */
export async function probeStun(target: StunProbeTarget): Promise<number> {
  return (await bindStun(target)).rtt;
}
