import type { Dispatcher } from 'undici';
import { UpstreamError } from './errors';
import {
  type ListKey,
  MeteredApi,
  type MeteredOperation,
  type MintedCredential,
  UnusableMintError,
} from './metered-api';
import { resolveTtl } from './ttl';
import type {
  GetIceServersOptions,
  IceServer,
  IceServers,
  ReadyState,
  TurnProvider,
} from './types';
import { assertValidUserId } from './user-id';

export interface MeteredOptions {
  /** Base URL of the Metered app, e.g. `https://yourapp.metered.live`. */
  apiUrl: string;
  /**
   * Metered's secret key (Dashboard → Developers): turnkey mints one expiring credential at a
   * time and deletes the expired ones. Exactly one of `secretKey` and `credentialApiKey`.
   */
  secretKey?: string;
  /**
   * The apiKey of one long-lived credential (Dashboard → TURN Server): turnkey only lists its
   * ICE servers and creates nothing on the account.
   */
  credentialApiKey?: string;
  /** Lifetime of each minted credential (and how long a listed one is cached), in seconds. */
  credentialTtl: number;
  /** Metered region passed to the ICE server list (e.g. `europe`); Metered's default if unset. */
  region?: string;
  /** Label Metered shows for minted credentials; tells deployments apart on one account. */
  label?: string;
  /** Upper bound for one refresh (mint + list), in milliseconds. */
  timeoutMs?: number;
  /** After a failed refresh, callers get that error without a new upstream call for this long. */
  failureBackoffMs?: number;
  dispatcher?: Dispatcher;
  now?: () => number;
  /** Called once per upstream HTTP call, for metrics. */
  onUpstreamCall?: (operation: MeteredOperation, seconds: number, outcome: string) => void;
}

interface CachedCredential {
  iceServers: IceServer[];
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** After this, a background refresh starts; before expiry, the cached one is still served. */
  refreshAt: number;
  /** The minted credential's username (secret-key mode). */
  username?: string;
}

/** A credential this process minted and has not deleted yet. */
interface Minted extends MintedCredential {
  mintedAt: number;
  expiresAt: number;
}

/** Never hand out a credential that dies before the browser has even connected. */
const MIN_REMAINING_MS = 30_000;
/** Minted credentials remembered for deletion; beyond this the oldest are forgotten. */
const MAX_TRACKED = 1000;

/**
 * Metered's managed TURN, with one credential shared by all users until half its lifetime
 * is gone (so users always receive at least half a lifetime), concurrent callers coalesced
 * into one upstream round trip, and a back-off after failures.
 *
 * With a secret key, a credential is minted, its ICE servers listed, and credentials this
 * process minted are deleted once expired (never the one being served: Metered's
 * delete-by-label would revoke that too). A mint whose list call fails is kept, and only the
 * list is retried. With a credential apiKey nothing is minted: its ICE servers are listed.
 */
export class MeteredProvider implements TurnProvider {
  readonly name = 'metered' as const;
  private readonly api: MeteredApi;
  private readonly key: { secretKey: string } | { credentialApiKey: string };
  private readonly credentialTtl: number;
  private readonly region: string | undefined;
  private readonly label: string;
  private readonly timeoutMs: number;
  private readonly failureBackoffMs: number;
  private readonly now: () => number;
  private cached: CachedCredential | undefined;
  private inflight: Promise<CachedCredential> | undefined;
  private lastFailure: { error: UpstreamError; at: number; until: number } | undefined;
  /** Minted, not yet listed successfully: the next refresh retries only the list. */
  private pending: Minted | undefined;
  /** Everything minted and not yet deleted, oldest first (the served one included). */
  private minted: Minted[] = [];
  private cleanup: Promise<void> | undefined;
  private closed = false;

  constructor(opts: MeteredOptions) {
    const keys = [opts.secretKey, opts.credentialApiKey].filter((k) => k !== undefined);
    if (keys.length !== 1) {
      throw new Error(
        'MeteredProvider needs exactly one of secretKey (Metered secret key) and credentialApiKey (a credential apiKey)',
      );
    }
    this.key =
      opts.secretKey !== undefined
        ? { secretKey: opts.secretKey }
        : { credentialApiKey: opts.credentialApiKey as string };
    this.credentialTtl = opts.credentialTtl;
    this.region = opts.region;
    this.label = opts.label ?? 'turnkey';
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.failureBackoffMs = opts.failureBackoffMs ?? 2000;
    this.now = opts.now ?? Date.now;
    this.api = new MeteredApi({
      apiUrl: opts.apiUrl,
      timeoutMs: this.timeoutMs,
      ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
      ...(opts.onUpstreamCall ? { onUpstreamCall: opts.onUpstreamCall } : {}),
    });
  }

  async getIceServers(userId: string, opts: GetIceServersOptions = {}): Promise<IceServers> {
    assertValidUserId(userId);
    // The credential is shared, so a shorter ttl cannot be honoured; the value is still validated.
    resolveTtl(opts.ttl, this.credentialTtl);
    const cred = await this.credential();
    const remaining = Math.floor((cred.expiresAt - this.now()) / 1000);
    return {
      iceServers: cred.iceServers.map((s) => ({ ...s, urls: [...s.urls] })),
      ttl: remaining,
      expiresAt: new Date(cred.expiresAt).toISOString(),
    };
  }

  async checkReady(): Promise<ReadyState> {
    try {
      const cred = await this.credential();
      const failure = this.lastFailure
        ? `; last refresh failed: ${this.lastFailure.error.message}`
        : '';
      return {
        ready: true,
        cause: 'ready',
        detail: `Metered credential valid until ${new Date(cred.expiresAt).toISOString()}${failure}`,
      };
    } catch (err) {
      const unavailable = err instanceof UpstreamError && err.failure === 'unavailable';
      return {
        ready: false,
        cause: unavailable ? 'upstream_unavailable' : 'upstream_error',
        detail: (err as Error).message,
      };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.cleanup;
    await this.api.close();
  }

  private async credential(): Promise<CachedCredential> {
    const now = this.now();
    const cached = this.cached;
    if (cached && now < cached.expiresAt - MIN_REMAINING_MS) {
      if (now >= cached.refreshAt) this.refresh().catch(() => {});
      return cached;
    }
    const failure = this.lastFailure;
    if (failure && now < failure.until) {
      throw failure.error.withRetryAfter(Math.max(1, Math.ceil((failure.until - now) / 1000)));
    }
    return this.refresh();
  }

  /** Concurrent callers share one upstream round trip. */
  private refresh(): Promise<CachedCredential> {
    if (!this.inflight) {
      this.inflight = this.fetchCredential()
        .then((cred) => {
          this.cached = cred;
          this.lastFailure = undefined;
          return cred;
        })
        .catch((err: unknown) => {
          const error =
            err instanceof UpstreamError
              ? err
              : new UpstreamError(
                  'bad_response',
                  'Metered API call failed unexpectedly',
                  'internal',
                );
          const at = this.now();
          // Metered's own Retry-After (429/503) outranks ours.
          const wait = Math.max(this.failureBackoffMs, (error.retryAfterSeconds ?? 0) * 1000);
          this.lastFailure = { error, at, until: at + wait };
          throw error.withRetryAfter(Math.max(1, Math.ceil(wait / 1000)));
        })
        .finally(() => {
          this.inflight = undefined;
          this.deleteExpired();
        });
    }
    return this.inflight;
  }

  private async fetchCredential(): Promise<CachedCredential> {
    const started = this.now();
    const signal = AbortSignal.timeout(this.timeoutMs);
    const ttlMs = this.credentialTtl * 1000;
    if ('credentialApiKey' in this.key) {
      const key: ListKey = { configured: this.key.credentialApiKey };
      const iceServers = await this.api.list(key, this.region, signal);
      return { iceServers, expiresAt: started + ttlMs, refreshAt: started + ttlMs / 2 };
    }

    // A credential minted earlier whose list failed is retried while it still has half its
    // life; re-minting on every failed list is what left orphans on the account.
    let minted = this.pending;
    if (!minted || minted.expiresAt - started < ttlMs / 2) {
      if (minted) this.abandon(minted);
      minted = await this.mint(this.key.secretKey, started, signal);
    }
    let iceServers: IceServer[];
    try {
      iceServers = await this.api.list({ minted }, this.region, signal);
    } catch (err) {
      // Metered refusing the minted apiKey means that credential is unusable: mint anew.
      if (err instanceof UpstreamError && err.failure === 'auth') this.abandon(minted);
      throw err;
    }
    this.pending = undefined;
    return {
      iceServers,
      expiresAt: minted.expiresAt,
      refreshAt: minted.mintedAt + ttlMs / 2,
      username: minted.username,
    };
  }

  private async mint(secretKey: string, started: number, signal: AbortSignal): Promise<Minted> {
    try {
      const credential = await this.api.mint(
        secretKey,
        { expiryInSeconds: this.credentialTtl, label: this.label },
        signal,
      );
      // Counted from before the request: Metered's clock starts later, never earlier.
      const minted = {
        ...credential,
        mintedAt: started,
        expiresAt: started + this.credentialTtl * 1000,
      };
      this.track(minted);
      this.pending = minted;
      return minted;
    } catch (err) {
      // It exists on the account but will not be handed out: delete it at once.
      if (err instanceof UnusableMintError) {
        this.track({ username: err.username, password: '', apiKey: '', mintedAt: 0, expiresAt: 0 });
      }
      throw err;
    }
  }

  /** A minted credential that was never handed out and never will be: delete it at once. */
  private abandon(minted: Minted): void {
    minted.expiresAt = 0;
    if (this.pending === minted) this.pending = undefined;
  }

  private track(minted: Minted): void {
    this.minted.push(minted);
    if (this.minted.length > MAX_TRACKED) this.minted.shift();
  }

  /**
   * Deletes, in the background, every credential this process minted that has expired (or
   * was abandoned unserved), except the one being served and the one awaiting its list. One sweep at a time; a
   * failed delete is retried at the next sweep.
   */
  private deleteExpired(): void {
    if (this.cleanup || this.closed || !('secretKey' in this.key)) return;
    const now = this.now();
    const keep = new Set([this.cached?.username, this.pending?.username]);
    const due = this.minted.filter((m) => m.expiresAt <= now && !keep.has(m.username));
    if (due.length === 0) return;
    const { secretKey } = this.key;
    this.cleanup = (async () => {
      for (const m of due) {
        try {
          await this.api.delete(secretKey, m.username, AbortSignal.timeout(this.timeoutMs));
          this.minted = this.minted.filter((x) => x !== m);
        } catch {
          // Counted in turnkey_upstream_errors_total{operation="delete"}; retried next sweep.
        }
      }
    })().finally(() => {
      this.cleanup = undefined;
    });
  }
}
