/**
 * What one client may hold of the API listener. Node enforces headersTimeout and
 * requestTimeout only when it sweeps its connections, every connectionsCheckingInterval
 * (30 s by default), so a client trickling a header byte a second kept a socket ~40 s; the
 * socket's idle timeout (connectionTimeout) never fires while bytes keep coming.
 */
export const CONNECTION_LIMITS = {
  /** The request's headers must be complete this long after its first byte. */
  headersTimeoutMs: 5_000,
  /** The whole request (headers and the at most 1 KiB body). */
  requestTimeoutMs: 10_000,
  /** How often Node sweeps for requests past those bounds: a slow client is cut within this of them. */
  checkIntervalMs: 1_000,
  /**
   * Open sockets at once; more are closed as they arrive. Far above what app backends with
   * keep-alive and browsers (requests of milliseconds, idle keep-alive closed after 5 s) hold,
   * and well below the file descriptors Node raises its limit to, so a flood of idle
   * connections cannot starve the process of descriptors or memory.
   */
  maxConnections: 10_000,
} as const;

export type ConnectionLimits = { -readonly [K in keyof typeof CONNECTION_LIMITS]: number };
