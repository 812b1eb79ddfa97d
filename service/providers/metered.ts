import { Agent, type Dispatcher, request, errors as undiciErrors } from 'undici';
import { UpstreamError } from './errors';
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
  /** Metered secret key; goes only into the mint request, never into logs or errors. */
  secretKey: string;
  /** Lifetime of each minted credential, in seconds. */
  credentialTtl: number;
  /** Upper bound for one refresh (mint + list), in milliseconds. */
  timeoutMs?: number;
  /** After a failed refresh, callers get that error without a new upstream call for this long. */
  failureBackoffMs?: number;
  /** Label Metered shows for minted credentials. */
  label?: string;
  dispatcher?: Dispatcher;
  now?: () => number;
  /** Called once per upstream HTTP call, for metrics. */
  onUpstreamCall?: (operation: 'mint' | 'list', seconds: number, outcome: string) => void;
}

interface CachedCredential {
  iceServers: IceServer[];
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** After this, a background refresh starts; before expiry, the cached one is still served. */
  refreshAt: number;
}

/** Upstream bodies are a few hundred bytes; anything far larger is not Metered talking. */
const MAX_BODY_BYTES = 64 * 1024;
/** Never hand out a credential that dies before the browser has even connected. */
const MIN_REMAINING_MS = 30_000;

/**
 * Metered's managed TURN. One credential is minted for the whole service
 * (`POST /api/v1/turn/credential`), its ICE servers fetched once
 * (`GET /api/v1/turn/credentials?apiKey=`), and then shared by all users until half its
 * lifetime is gone, so users always receive at least half a lifetime.
 */
export class MeteredProvider implements TurnProvider {
  readonly name = 'metered' as const;
  private readonly opts: Required<Omit<MeteredOptions, 'dispatcher' | 'onUpstreamCall'>> &
    Pick<MeteredOptions, 'onUpstreamCall'>;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private cached: CachedCredential | undefined;
  private inflight: Promise<CachedCredential> | undefined;
  private lastFailure: { error: UpstreamError; at: number } | undefined;

  constructor(opts: MeteredOptions) {
    const base = new URL(opts.apiUrl);
    if (base.protocol !== 'https:' && base.protocol !== 'http:') {
      throw new Error('Metered API URL must be http(s)');
    }
    this.opts = {
      timeoutMs: 5000,
      failureBackoffMs: 2000,
      label: 'turnkey',
      now: Date.now,
      ...opts,
      apiUrl: base.origin,
    };
    this.ownsDispatcher = opts.dispatcher === undefined;
    this.dispatcher = opts.dispatcher ?? new Agent({ connect: { timeout: this.opts.timeoutMs } });
  }

  async getIceServers(userId: string, opts: GetIceServersOptions = {}): Promise<IceServers> {
    assertValidUserId(userId);
    // The credential is shared, so a shorter ttl cannot be honoured; the value is still validated.
    resolveTtl(opts.ttl, this.opts.credentialTtl);
    const cred = await this.credential();
    const remaining = Math.floor((cred.expiresAt - this.opts.now()) / 1000);
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
        detail: `Metered credential valid until ${new Date(cred.expiresAt).toISOString()}${failure}`,
      };
    } catch (err) {
      return { ready: false, detail: (err as Error).message };
    }
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  private async credential(): Promise<CachedCredential> {
    const now = this.opts.now();
    const cached = this.cached;
    if (cached && now < cached.expiresAt - MIN_REMAINING_MS) {
      if (now >= cached.refreshAt) this.refresh().catch(() => {});
      return cached;
    }
    const failure = this.lastFailure;
    if (failure && now - failure.at < this.opts.failureBackoffMs) throw failure.error;
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
          this.lastFailure = { error, at: this.opts.now() };
          throw error;
        })
        .finally(() => {
          this.inflight = undefined;
        });
    }
    return this.inflight;
  }

  private async fetchCredential(): Promise<CachedCredential> {
    const { apiUrl, secretKey, credentialTtl, label, timeoutMs } = this.opts;
    const started = this.opts.now();
    const signal = AbortSignal.timeout(timeoutMs);

    const mintUrl = new URL('/api/v1/turn/credential', apiUrl);
    mintUrl.searchParams.set('secretKey', secretKey);
    const minted = parseMinted(
      await this.call('mint', mintUrl, signal, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ expiryInSeconds: credentialTtl, label }),
      }),
    );

    const listUrl = new URL('/api/v1/turn/credentials', apiUrl);
    listUrl.searchParams.set('apiKey', minted.apiKey);
    const iceServers = parseIceServerList(
      await this.call('list', listUrl, signal, { method: 'GET' }),
    );

    const expiresAt = started + credentialTtl * 1000;
    return { iceServers, expiresAt, refreshAt: started + (credentialTtl * 1000) / 2 };
  }

  /** One upstream request; every failure becomes an UpstreamError without URL or key. */
  private async call(
    operation: 'mint' | 'list',
    url: URL,
    signal: AbortSignal,
    init: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string },
  ): Promise<unknown> {
    const what = operation === 'mint' ? 'minting a credential' : 'listing ICE servers';
    const started = performance.now();
    let outcome = 'ok';
    try {
      const res = await request(url, {
        ...init,
        headers: { accept: 'application/json', ...init.headers },
        dispatcher: this.dispatcher,
        signal,
      });
      if (res.statusCode === 401 || res.statusCode === 403) {
        await res.body.dump();
        outcome = String(res.statusCode);
        throw new UpstreamError(
          'auth',
          `Metered API rejected the secret key (HTTP ${res.statusCode}) while ${what}: check TURN_API_KEY (turnkey:meteredApiKey)`,
          outcome,
        );
      }
      if (res.statusCode < 200 || res.statusCode >= 300) {
        await res.body.dump();
        outcome = String(res.statusCode);
        throw new UpstreamError(
          'bad_response',
          `Metered API answered HTTP ${res.statusCode} while ${what}`,
          outcome,
        );
      }
      const text = await readCapped(res.body, MAX_BODY_BYTES);
      try {
        return JSON.parse(text);
      } catch {
        outcome = 'invalid_json';
        throw new UpstreamError(
          'bad_response',
          `Metered API sent invalid JSON while ${what}`,
          outcome,
        );
      }
    } catch (err) {
      if (err instanceof UpstreamError) {
        if (outcome === 'ok') outcome = err.reason;
        throw err;
      }
      const failure = describeTransportError(err, this.opts.timeoutMs);
      outcome = failure.reason;
      throw new UpstreamError(
        'unavailable',
        `Metered API ${failure.text} while ${what}`,
        failure.reason,
      );
    } finally {
      this.opts.onUpstreamCall?.(operation, (performance.now() - started) / 1000, outcome);
    }
  }
}

async function readCapped(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      body.destroy();
      throw new UpstreamError(
        'bad_response',
        `Metered API sent more than ${max} bytes`,
        'too_large',
      );
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describeTransportError(err: unknown, timeoutMs: number): { text: string; reason: string } {
  const e = err as { name?: string; code?: string };
  if (
    e?.name === 'TimeoutError' ||
    e?.name === 'AbortError' ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    err instanceof undiciErrors.ConnectTimeoutError
  ) {
    return { text: `did not answer within ${timeoutMs} ms`, reason: 'timeout' };
  }
  const code = typeof e?.code === 'string' && /^[A-Z_]+$/.test(e.code) ? e.code : 'network';
  return { text: `could not be reached (${code})`, reason: code };
}

const ICE_URI = /^(stuns?|turns?):[^\s]{1,500}$/;

function parseMinted(json: unknown): { apiKey: string } {
  const o = json as Record<string, unknown> | null;
  const ok =
    typeof o === 'object' &&
    o !== null &&
    typeof o.apiKey === 'string' &&
    o.apiKey.length > 0 &&
    typeof o.username === 'string' &&
    typeof o.password === 'string';
  if (!ok) {
    throw new UpstreamError(
      'bad_response',
      'Metered API sent an unexpected credential (expected username, password and apiKey)',
      'invalid_shape',
    );
  }
  return { apiKey: o.apiKey as string };
}

function parseIceServerList(json: unknown): IceServer[] {
  const invalid = (why: string) =>
    new UpstreamError(
      'bad_response',
      `Metered API sent an unusable ICE server list: ${why}`,
      'invalid_shape',
    );
  if (!Array.isArray(json) || json.length === 0) throw invalid('expected a non-empty array');
  return json.map((entry: unknown, i) => {
    const o = entry as Record<string, unknown> | null;
    if (typeof o !== 'object' || o === null) throw invalid(`entry ${i} is not an object`);
    const urls = typeof o.urls === 'string' ? [o.urls] : o.urls;
    if (
      !Array.isArray(urls) ||
      urls.length === 0 ||
      !urls.every((u) => typeof u === 'string' && ICE_URI.test(u))
    ) {
      throw invalid(`entry ${i} has no valid urls`);
    }
    const server: IceServer = { urls: urls as string[] };
    const needsAuth = (urls as string[]).some((u) => u.startsWith('turn'));
    if (needsAuth) {
      if (typeof o.username !== 'string' || typeof o.credential !== 'string') {
        throw invalid(`TURN entry ${i} lacks username/credential`);
      }
      server.username = o.username;
      server.credential = o.credential;
    }
    return server;
  });
}
