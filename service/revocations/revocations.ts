import { Agent, request } from 'undici';
import { endSessions, type RelayAdmin } from './relay-admin';
import type { Revocation, RevocationStore } from './store';

/**
 * Revoking a user on a whole deployment: this host refuses them new credentials (the store,
 * kept on the stack's volume), ends their sessions on its relay (Coturn's admin CLI), and
 * passes the revocation on to every other host of the fleet (REVOCATION_PEERS), which does the
 * same for its own relay. A credential handed out before the revocation stays valid until it
 * expires, so for up to the credential TTL after a revocation every host ends the user's new
 * sessions again every SWEEP_MS: a banned client can allocate, but not keep relaying.
 */

/** How often a host ends a revoked user's sessions again while old credentials may be used. */
export const SWEEP_MS = 2000;
/** Longest revocation, in seconds (30 days); lift one early with DELETE. */
export const MAX_REVOCATION_SECONDS = 30 * 24 * 3600;
/** The header a host's forwarded call carries, so the peer applies it without passing it on. */
export const FORWARDED = 'x-turnkey-forwarded';

export interface RelayOutcome {
  relay: string;
  sessionsEnded?: number;
  error?: string;
}

export interface RevocationsOptions {
  store: RevocationStore;
  /**
   * What a user id may be in TURN usernames: itself, or with TURN_HASH_USER_IDS its keyed hash
   * under the current secret and each earlier one still accepted (credentials minted before a
   * rotation carry the old hash).
   */
  usernameTags(user: string): string[];
  /** This host's relay: its name in answers, and its admin CLI (none without a relay). */
  relay?: { name: string; admin: RelayAdmin };
  /** The other hosts' service origins (https://host:port), called with `token`. */
  peers: string[];
  token?: string;
  /** PEM CAs the peers' certificates are checked against (else Node's public CAs). */
  peerCa?: string;
  /** Seconds a credential handed out before a revocation may still be used. */
  credentialTtl: number;
  onSessionsEnded(count: number): void;
  onChange(active: number): void;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  now?: () => number;
}

export class Revocations {
  private readonly now: () => number;
  private readonly agent: Agent;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(private readonly opts: RevocationsOptions) {
    this.now = opts.now ?? Date.now;
    this.agent = new Agent({
      connect: { ...(opts.peerCa ? { ca: opts.peerCa } : {}), timeout: 3000 },
      headersTimeout: 5000,
      bodyTimeout: 5000,
    });
    opts.onChange(opts.store.active().length);
  }

  /** The revocation in force for `user`, if any. */
  of(user: string): Revocation | undefined {
    return this.opts.store.get(user);
  }

  list(): Revocation[] {
    return this.opts.store.active();
  }

  /** Revokes `user` for `seconds` here and, unless `forwarded`, on every peer. */
  async revoke(user: string, seconds: number, forwarded: boolean) {
    const r = this.opts.store.put(user, this.now() + seconds * 1000);
    this.opts.onChange(this.list().length);
    this.opts.log.info({ user, until: new Date(r.until).toISOString() }, 'user revoked');
    const remaining = Math.ceil((r.until - this.now()) / 1000);
    const [own, others] = await Promise.all([
      this.endOnOwnRelay(user),
      forwarded ? [] : this.forward('POST', '/v1/revocations', { user, seconds: remaining }),
    ]);
    this.startSweeper();
    return { user, until: new Date(r.until).toISOString(), relays: [...own, ...others] };
  }

  /** Lifts the revocation of `user` here and, unless `forwarded`, on every peer. */
  async lift(user: string, forwarded: boolean) {
    const lifted = this.opts.store.delete(user);
    this.opts.onChange(this.list().length);
    if (lifted) this.opts.log.info({ user }, 'revocation lifted');
    const others = forwarded
      ? []
      : await this.forward('DELETE', `/v1/revocations/${encodeURIComponent(user)}`);
    return { user, lifted, relays: others };
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    await this.agent.close();
  }

  /** Starts ending revoked users' new sessions again, while any of them may hold a credential. */
  startSweeper(): void {
    if (this.sweeper || !this.opts.relay) return;
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const window = this.opts.credentialTtl * 1000;
      const open = this.list().filter((r) => r.since + window > this.now());
      for (const r of open) await this.endOnOwnRelay(r.user);
      if (open.length === 0) {
        clearInterval(this.sweeper);
        this.sweeper = undefined;
      }
    } finally {
      this.sweeping = false;
    }
  }

  private async endOnOwnRelay(user: string): Promise<RelayOutcome[]> {
    const relay = this.opts.relay;
    if (!relay) return [];
    try {
      let ended = 0;
      for (const tag of this.opts.usernameTags(user)) ended += await endSessions(relay.admin, tag);
      if (ended > 0) this.opts.onSessionsEnded(ended);
      return [{ relay: relay.name, sessionsEnded: ended }];
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'could not end sessions on the relay');
      return [{ relay: relay.name, error: (err as Error).message }];
    }
  }

  /** The same call on every peer; a peer that does not confirm is named with the reason. */
  private forward(method: 'POST' | 'DELETE', path: string, body?: object) {
    return Promise.all(
      this.opts.peers.map(async (peer): Promise<RelayOutcome[]> => {
        const name = new URL(peer).host;
        try {
          const res = await request(new URL(path, peer), {
            method,
            dispatcher: this.agent,
            headers: {
              authorization: `Bearer ${this.opts.token ?? ''}`,
              [FORWARDED]: '1',
              ...(body ? { 'content-type': 'application/json' } : {}),
            },
            ...(body ? { body: JSON.stringify(body) } : {}),
          });
          const answer = (await res.body.json().catch(() => ({}))) as {
            relays?: RelayOutcome[];
            message?: string;
          };
          if (res.statusCode !== 200)
            return [
              {
                relay: name,
                error: `did not confirm: HTTP ${res.statusCode}${answer.message ? ` (${answer.message})` : ''}`,
              },
            ];
          return answer.relays?.length ? answer.relays : [{ relay: name, sessionsEnded: 0 }];
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          return [{ relay: name, error: `did not confirm: ${e.code ?? e.message}` }];
        }
      }),
    ).then((all) => all.flat());
  }
}
