import type { ProviderName } from '../../contract';

/** One entry of `RTCConfiguration.iceServers`. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** What every provider returns: usable as-is by a browser, plus how long it stays valid. */
export interface IceServers {
  iceServers: IceServer[];
  /** Seconds from now until the credentials expire. */
  ttl: number;
  /** The same instant as an ISO-8601 timestamp. */
  expiresAt: string;
}

export interface GetIceServersOptions {
  /** Requested credential lifetime in seconds; providers cap it at their configured maximum. */
  ttl?: number;
  /**
   * A fleet (TURN_RELAYS): the region whose relay comes first. Providers without regions
   * ignore it.
   */
  region?: string;
  /** A fleet: `nearest` (default: the nearest healthy relay plus one fallback) or `all` healthy relays. */
  relays?: 'nearest' | 'all';
}

/**
 * Why the service is or is not ready, as a short code: what /readyz shows a caller without the
 * API token (a load balancer), where `detail` would show probe targets and upstream messages.
 */
export type ReadyCause =
  | 'ready'
  /** Set by the HTTP layer once shutdown has begun; providers never report it. */
  | 'shutting_down'
  /** The relay did not answer the readiness Allocate (timeout, refused connection, TLS). */
  | 'relay_unreachable'
  /** The relay answered and refused it (wrong secret, quota, …). */
  | 'relay_refused'
  /**
   * The relay refused it because it is draining (being replaced): not a fault, but it takes no
   * new allocations, so clients need another relay.
   */
  | 'relay_draining'
  /** A fleet: no relay passed its last probe. */
  | 'no_healthy_relay'
  /** Metered refused turnkey's key or request, or answered something unusable (502-class). */
  | 'upstream_error'
  /** Metered did not answer in time, failed or rate-limited turnkey (503-class). */
  | 'upstream_unavailable';

export interface ReadyState {
  ready: boolean;
  cause: ReadyCause;
  /** Human-readable reason, never containing secrets. */
  detail: string;
}

export type { ProviderName };

export interface TurnProvider {
  readonly name: ProviderName;
  getIceServers(userId: string, opts?: GetIceServersOptions): Promise<IceServers>;
  /** Whether the provider can hand out working servers right now (used by /readyz). */
  checkReady(): Promise<ReadyState>;
  /** Releases sockets and timers; the provider is unusable afterwards. */
  close(): Promise<void>;
}

/** A provider that signs credentials with the TURN secret, which a rotation may replace. */
export interface SecretSigningProvider extends TurnProvider {
  /** Signs with `secret` from now on; credentials already handed out stay as they are. */
  useSecret(secret: string): void;
}

export function signsWithSecret(provider: TurnProvider): provider is SecretSigningProvider {
  return typeof (provider as Partial<SecretSigningProvider>).useSecret === 'function';
}
