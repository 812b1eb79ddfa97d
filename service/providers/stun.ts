import { resolveTtl } from './ttl';
import type { GetIceServersOptions, IceServers, ReadyState, TurnProvider } from './types';
import { assertValidUserId } from './user-id';

export interface StunOptions {
  /** `stun:` URIs; empty means host candidates only (fine on one LAN, useless across NATs). */
  stunUrls: string[];
  /** How long clients may cache the list, in seconds. */
  maxTtl: number;
  now?: () => number;
}

/** STUN only: no relay, no credentials. The default when no TURN provider is configured. */
export class StunProvider implements TurnProvider {
  readonly name = 'stun' as const;
  private readonly stunUrls: string[];
  private readonly maxTtl: number;
  private readonly now: () => number;

  constructor(opts: StunOptions) {
    this.stunUrls = [...opts.stunUrls];
    this.maxTtl = opts.maxTtl;
    this.now = opts.now ?? Date.now;
  }

  async getIceServers(userId: string, opts: GetIceServersOptions = {}): Promise<IceServers> {
    assertValidUserId(userId);
    const ttl = resolveTtl(opts.ttl, this.maxTtl);
    const iceServers = this.stunUrls.length > 0 ? [{ urls: [...this.stunUrls] }] : [];
    return { iceServers, ttl, expiresAt: new Date(this.now() + ttl * 1000).toISOString() };
  }

  async checkReady(): Promise<ReadyState> {
    return { ready: true, detail: `STUN only (${this.stunUrls.length} server(s))` };
  }

  async close(): Promise<void> {}
}
