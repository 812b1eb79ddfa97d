/**
 * Why a STUN/TURN exchange failed. `refused`: the server answered with an error response
 * (`code` is its STUN error code: 401, 403, 437, 438, 486, 508…); `timeout`: no answer in time;
 * `unreachable`: no route, connection refused or closed; `tls`: the TLS handshake failed
 * (certificate name, chain, expiry); `protocol`: an answer that makes no sense.
 */
export type TurnFailure = 'refused' | 'timeout' | 'unreachable' | 'tls' | 'protocol';

export class TurnError extends Error {
  override readonly name = 'TurnError';
  readonly kind: TurnFailure;
  /** The system or TLS error code behind an `unreachable` or `tls` failure (ECONNREFUSED, CERT_HAS_EXPIRED…). */
  readonly systemCode: string | undefined;
  /** The TURN step that failed (allocate, permission, refresh…), once the client knows it. */
  operation: string | undefined;

  constructor(
    /** The STUN error code of a `refused` failure; 0 otherwise. */
    readonly code: number,
    readonly reason: string,
    kind?: TurnFailure,
    systemCode?: string,
  ) {
    super(code ? `TURN error ${code}${reason ? `: ${reason}` : ''}` : reason);
    this.kind = kind ?? (code ? 'refused' : 'protocol');
    this.systemCode = systemCode;
  }
}
