import { resolveTtl } from './ttl';
import type { GetIceServersOptions, IceServers, ReadyState, TurnProvider } from './types';
import { assertValidUserId } from './user-id';

export interface StunOptions {
  /** `stun:` URIs; empty means host candidates only (fine on one LAN, useless across NATs). */
  stunUris: string[];
  /** How long clients may cache the list, in seconds (TURN_TTL); a request may ask for less. */
  credentialTtl: number;
  now?: () => number;
}

/** STUN only: no relay, no credentials. The default when no TURN provider is configured. */
export class StunProvider implements TurnProvider {
  readonly name = 'stun' as const;
  private readonly stunUris: string[];
  private readonly credentialTtl: number;
  private readonly now: () => number;

  constructor(opts: StunOptions) {
    this.stunUris = [...opts.stunUris];
    this.credentialTtl = opts.credentialTtl;
    this.now = opts.now ?? Date.now;
  }

  async getIceServers(userId: string, opts: GetIceServersOptions = {}): Promise<IceServers> {
    assertValidUserId(userId);
    const ttl = resolveTtl(opts.ttl, this.credentialTtl);
    const iceServers = this.stunUris.length > 0 ? [{ urls: [...this.stunUris] }] : [];
    return { iceServers, ttl, expiresAt: new Date(this.now() + ttl * 1000).toISOString() };
  }

  async checkReady(): Promise<ReadyState> {
    return { ready: true, cause: 'ready', detail: `STUN only (${this.stunUris.length} server(s))` };
  }

  async close(): Promise<void> {}
}
