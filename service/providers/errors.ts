/**
 * Errors a provider can raise. Messages are shown to API clients and written to logs,
 * so they must never contain secrets, credentials or upstream URLs with keys in them.
 */

/** The caller passed something the provider cannot use (e.g. a malformed user id). */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
  constructor(
    /** The request field at fault, e.g. `user` or `ttl`. */
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export type UpstreamFailure =
  /** The upstream refused our key or account: an operator must fix the configuration. */
  | 'auth'
  /** The upstream answered with something we cannot use (its bug or ours): retrying won't help. */
  | 'bad_response'
  /** The upstream did not answer in time, could not be reached, was overloaded (5xx) or
   * rate-limited us (429): retrying later may help. */
  | 'unavailable';

/** The provider's upstream (e.g. Metered's API) failed; retrying later may help. */
export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(
    readonly failure: UpstreamFailure,
    message: string,
    /** A short machine-readable cause (status code, errno code), safe to log. */
    readonly reason: string,
    /** When asking again makes sense, in seconds (for `Retry-After`); unset: the default. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  /** The same failure, with the wait that is left before the provider asks upstream again. */
  withRetryAfter(seconds: number): UpstreamError {
    return new UpstreamError(this.failure, this.message, this.reason, seconds);
  }
}
