/**
 * Why a STUN/TURN exchange failed. `refused`: the server answered with an error response
 * (`code` is its STUN error code: 401, 403, 437, 438, 486, 508…); `draining`: a 403 whose
 * reason says the server is draining (Coturn after SIGUSR1, while it is being replaced: new
 * allocations refused, the ones in progress still relayed), which is no fault of the request
 * or of the relay's config; `timeout`: no answer in time; `unreachable`: no route, connection
 * refused or closed; `tls`: the TLS handshake failed (certificate name, chain, expiry);
 * `protocol`: an answer that makes no sense.
 */
export type TurnFailure = 'refused' | 'draining' | 'timeout' | 'unreachable' | 'tls' | 'protocol';

/**
 * With include-reason-string on, Coturn's reason is "Server is draining, then will shutdown,
 * please try another server" (ns_turn_server.c, handle_turn_allocate). Only the word is
 * matched, so a rephrased reason in a later release, or another server's, still counts.
 * Without it (4.18's default) the reason is empty; the TURN client then knows a draining
 * Allocate by its 403 alone (client.ts asDrainingAllocate).
 */
export function isDrainingRefusal(code: number, reason: string): boolean {
  return code === 403 && /draining/i.test(reason);
}

export class TurnError extends Error {
  override readonly name = 'TurnError';
  readonly kind: TurnFailure;
  /** The system or TLS error code behind an `unreachable` or `tls` failure (ECONNREFUSED, CERT_HAS_EXPIRED…). */
  readonly systemCode: string | undefined;
  /** The TURN step that failed (allocate, permission, refresh…), once the client knows it. */
  operation: string | undefined;

  constructor(
    /** The STUN error code of a `refused` or `draining` failure; 0 otherwise. */
    readonly code: number,
    /** The server's reason phrase, as sent, for an error response. */
    readonly reason: string,
    kind?: TurnFailure,
    systemCode?: string,
  ) {
    super(code ? `TURN error ${code}${reason ? `: ${reason}` : ''}` : reason);
    this.kind =
      kind ?? (isDrainingRefusal(code, reason) ? 'draining' : code ? 'refused' : 'protocol');
    this.systemCode = systemCode;
  }
}
