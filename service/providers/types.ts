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

export interface ReadyState {
  ready: boolean;
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
