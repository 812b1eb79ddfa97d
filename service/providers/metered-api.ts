import { Agent, type Dispatcher, request, errors as undiciErrors } from 'undici';
import { UpstreamError } from './errors';
import { redact } from './redact';
import type { IceServer } from './types';

/**
 * Metered's REST API, the three calls turnkey makes (metered.ca/docs/turn-rest-api):
 *   POST   /api/v1/turn/credential?secretKey=…   {expiryInSeconds,label} → {username,password,apiKey,expiryInSeconds,label}
 *   GET    /api/v1/turn/credentials?apiKey=…[&region=…]                → [{urls,username?,credential?}, …]
 *   DELETE /api/v1/turn/credential?secretKey=…   {username}            → {success,message}
 * Every failure becomes an UpstreamError whose message names the setting to fix and quotes
 * Metered's own words, with every key and credential this client knows cut out.
 *
 * Metered's two kinds of key are easy to mix up, so every message says which one it means:
 * the *secret key* (account-wide, Dashboard → Developers) mints and deletes credentials; a
 * credential's *apiKey* (Dashboard → TURN Server, or returned by a mint) only lists ICE servers.
 */

export type MeteredOperation = 'mint' | 'list' | 'delete';

/** Where each key is set and found, for error messages. */
export const SECRET_KEY_SETTING = 'TURN_API_KEY (turnkey:meteredApiKey)';
export const CREDENTIAL_KEY_SETTING = 'TURN_CREDENTIAL_API_KEY (turnkey:meteredCredentialApiKey)';
const SECRET_KEY_IS = `the Secret Key from Metered's Dashboard → Developers`;
const CREDENTIAL_KEY_IS = `the API Key of one credential on Metered's Dashboard → TURN Server`;

export interface MeteredApiOptions {
  /** Origin of the Metered app, e.g. `https://yourapp.metered.live`. */
  apiUrl: string;
  /** Bounds connecting, and is named in timeout messages; each call is bounded by its signal. */
  timeoutMs: number;
  dispatcher?: Dispatcher;
  /** Called once per upstream HTTP call, for metrics. */
  onUpstreamCall?: (operation: MeteredOperation, seconds: number, outcome: string) => void;
}

export interface MintedCredential {
  username: string;
  password: string;
  /** The credential's own key: lists its ICE servers, nothing else. */
  apiKey: string;
}

/**
 * A mint Metered answered with a credential turnkey will not hand out (e.g. one that never
 * expires). It exists on the account all the same, so the caller should delete it.
 */
export class UnusableMintError extends UpstreamError {
  constructor(
    message: string,
    /** The credential Metered created. */
    readonly username: string,
  ) {
    super('bad_response', message, 'invalid_echo');
  }
}

/** Whose apiKey a list call uses: one turnkey just minted, or the one configured. */
export type ListKey = { minted: MintedCredential } | { configured: string };

/** Upstream bodies are a few hundred bytes; anything far larger is not Metered talking. */
const MAX_BODY_BYTES = 64 * 1024;
/** Metered's message is quoted at most this long. */
const MAX_QUOTE = 200;
/** A 429/503 Retry-After beyond this is treated as this (the service must not go quiet for hours). */
const MAX_RETRY_AFTER_SECONDS = 300;
const ICE_URI = /^(stuns?|turns?):[^\s]{1,500}$/;

const WHAT: Record<MeteredOperation, string> = {
  mint: 'minting a credential',
  list: 'listing ICE servers',
  delete: 'deleting an expired credential',
};

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body, or undefined when it was not JSON. */
  json: unknown;
}

export class MeteredApi {
  private readonly origin: string;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;

  constructor(private readonly opts: MeteredApiOptions) {
    const base = new URL(opts.apiUrl);
    if (base.protocol !== 'https:' && base.protocol !== 'http:') {
      throw new Error('Metered API URL must be http(s)');
    }
    this.origin = base.origin;
    this.ownsDispatcher = opts.dispatcher === undefined;
    this.dispatcher = opts.dispatcher ?? new Agent({ connect: { timeout: opts.timeoutMs } });
  }

  /** Creates a credential that expires after `expiryInSeconds` (Metered: omitted = never). */
  async mint(
    secretKey: string,
    body: { expiryInSeconds: number; label: string },
    signal: AbortSignal,
  ): Promise<MintedCredential> {
    const url = this.url('/api/v1/turn/credential', { secretKey });
    const init = {
      method: 'POST' as const,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    };
    return this.call('mint', url, signal, [secretKey], init, (answer) => {
      if (answer.status !== 200) throw mintRefused(answer, [secretKey]);
      return parseMinted(answer.json, body.expiryInSeconds);
    });
  }

  /** The ICE servers of one credential, from the region asked for (Metered's default if none). */
  async list(key: ListKey, region: string | undefined, signal: AbortSignal): Promise<IceServer[]> {
    const apiKey = 'minted' in key ? key.minted.apiKey : key.configured;
    const url = this.url('/api/v1/turn/credentials', { apiKey, ...(region ? { region } : {}) });
    const secrets = 'minted' in key ? [apiKey, key.minted.password] : [apiKey];
    return this.call('list', url, signal, secrets, { method: 'GET' }, (answer) => {
      if (answer.status !== 200) throw listRefused(answer, key, secrets);
      const servers = parseIceServerList(answer.json);
      if ('minted' in key) checkUsername(servers, key.minted.username);
      return servers;
    });
  }

  /** Deletes one credential; `gone` when Metered no longer has it (deleted already). */
  async delete(
    secretKey: string,
    username: string,
    signal: AbortSignal,
  ): Promise<'deleted' | 'gone'> {
    const url = this.url('/api/v1/turn/credential', { secretKey });
    const init = {
      method: 'DELETE' as const,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username }),
    };
    return this.call('delete', url, signal, [secretKey], init, (answer) => {
      if (answer.status === 200) return 'deleted' as const;
      if (answer.status === 400 && /not found/i.test(said(answer, []).text)) return 'gone' as const;
      throw mintRefused(answer, [secretKey], 'delete');
    });
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  private url(path: string, query: Record<string, string>): URL {
    const url = new URL(path, this.origin);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url;
  }

  /**
   * One upstream request. A 5xx or 429 (and any transport failure) is thrown here as
   * `unavailable`; any other answer goes to `interpret`, whose errors count as failed calls.
   */
  private async call<T>(
    operation: MeteredOperation,
    url: URL,
    signal: AbortSignal,
    secrets: string[],
    init: { method: 'GET' | 'POST' | 'DELETE'; headers?: Record<string, string>; body?: string },
    interpret: (answer: Answer) => T,
  ): Promise<T> {
    const what = WHAT[operation];
    const started = performance.now();
    let outcome = 'ok';
    try {
      const res = await request(url, {
        ...init,
        headers: { accept: 'application/json', ...init.headers },
        dispatcher: this.dispatcher,
        signal,
      });
      const text = await readCapped(res.body, MAX_BODY_BYTES);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const answer: Answer = { status: res.statusCode, headers: res.headers, json };
      if (res.statusCode !== 200) outcome = String(res.statusCode);
      if (res.statusCode === 429 || res.statusCode >= 500) {
        const retryAfter = retryAfterSeconds(res.headers['retry-after']);
        const busy = res.statusCode === 429 ? 'is rate-limiting turnkey' : 'is failing';
        throw new UpstreamError(
          'unavailable',
          `Metered API ${busy} (HTTP ${res.statusCode}${quote(answer, secrets)}) while ${what}`,
          outcome,
          retryAfter,
        );
      }
      if (res.statusCode === 200 && json === undefined) {
        outcome = 'invalid_json';
        throw new UpstreamError(
          'bad_response',
          `Metered API sent invalid JSON while ${what}`,
          outcome,
        );
      }
      return interpret(answer);
    } catch (err) {
      if (err instanceof UpstreamError) {
        if (outcome === 'ok') outcome = err.reason;
        throw err;
      }
      const failure = describeTransportError(err, this.opts.timeoutMs);
      outcome = failure.reason;
      throw new UpstreamError('unavailable', `Metered API ${failure.text} while ${what}`, outcome);
    } finally {
      this.opts.onUpstreamCall?.(operation, (performance.now() - started) / 1000, outcome);
    }
  }
}

/** What Metered said in an error body (`{message}` or `{error}`), with secrets cut out. */
function said(answer: Answer, secrets: string[]): { text: string; eventId?: string } {
  const o = (typeof answer.json === 'object' && answer.json !== null ? answer.json : {}) as Record<
    string,
    unknown
  >;
  const raw =
    typeof o.message === 'string' ? o.message : typeof o.error === 'string' ? o.error : '';
  const id = [o.eventId, o.event_id, o.requestId, o.request_id].find(
    (v): v is string => typeof v === 'string' && /^[\w.-]{1,64}$/.test(v),
  );
  return { text: quotable(raw, secrets), ...(id ? { eventId: id } : {}) };
}

/** `, Metered says "…" (event id …)`, or nothing when Metered said nothing usable. */
function quote(answer: Answer, secrets: string[]): string {
  const { text, eventId } = said(answer, secrets);
  const words = text ? `, Metered says "${text}"` : '';
  return `${words}${eventId ? ` (event id ${eventId})` : ''}`;
}

/** Metered's words, without secrets, as one printable, bounded line (for logs and error bodies). */
function quotable(text: string, secrets: string[]): string {
  // Redacted before it is cut, so a key at the cut is not left half-visible.
  const out = redact(text, secrets)
    .replace(/[^\x20-\x7e]+/g, ' ')
    .trim();
  return out.length > MAX_QUOTE ? `${out.slice(0, MAX_QUOTE)}…` : out;
}

/** A refused mint or delete (both authenticate with the secret key). */
function mintRefused(answer: Answer, secrets: string[], operation: 'mint' | 'delete' = 'mint') {
  const what = WHAT[operation];
  const { text } = said(answer, secrets);
  const status = `HTTP ${answer.status}${quote(answer, secrets)}`;
  if (answer.status === 404) return notFound(status, what);
  if (/subscri|\bplan\b/i.test(text)) return noPlan(status, what);
  if (answer.status === 400 && /expiry|label/i.test(text)) {
    return new UpstreamError(
      'bad_response',
      `Metered refused turnkey's request (${status}) while ${what}: check TURN_TTL and TURN_LABEL`,
      String(answer.status),
    );
  }
  if ([400, 401, 403].includes(answer.status)) {
    // Metered answers a wrong secret key with 400 (or 401) and a message of varying wording.
    return new UpstreamError(
      'auth',
      `Metered refused the secret key (${status}) while ${what}: set ${SECRET_KEY_SETTING} to ${SECRET_KEY_IS}. A credential's apiKey cannot mint; it belongs in ${CREDENTIAL_KEY_SETTING}`,
      String(answer.status),
    );
  }
  return unexpectedStatus(status, what, answer.status);
}

function listRefused(answer: Answer, key: ListKey, secrets: string[]) {
  const what = WHAT.list;
  const { text } = said(answer, secrets);
  const status = `HTTP ${answer.status}${quote(answer, secrets)}`;
  if (answer.status === 404) return notFound(status, what);
  if (/subscri|\bplan\b/i.test(text)) return noPlan(status, what);
  if (answer.status === 400 && /region/i.test(text)) {
    return new UpstreamError(
      'auth',
      `Metered refused the region (${status}) while ${what}: set TURN_REGION (turnkey:meteredRegion) to one of Metered's regions, e.g. global, europe, us_east`,
      String(answer.status),
    );
  }
  if ([400, 401, 403].includes(answer.status)) {
    if ('minted' in key) {
      // The secret key was fine (the mint worked); the credential it made was refused.
      return new UpstreamError(
        'auth',
        `Metered refused the apiKey of the credential turnkey had just minted (${status}) while ${what}; the secret key was accepted. Was the credential deleted or disabled on Metered's dashboard?`,
        String(answer.status),
      );
    }
    return new UpstreamError(
      'auth',
      `Metered refused the credential apiKey (${status}) while ${what}: set ${CREDENTIAL_KEY_SETTING} to ${CREDENTIAL_KEY_IS}. The account's secret key does not work here; it belongs in ${SECRET_KEY_SETTING}`,
      String(answer.status),
    );
  }
  return unexpectedStatus(status, what, answer.status);
}

const notFound = (status: string, what: string) =>
  new UpstreamError(
    'auth',
    `Metered API has no such endpoint (${status}) while ${what}: set TURN_API_URL (turnkey:meteredApiUrl) to your app's https://<appname>.metered.live`,
    '404',
  );

const noPlan = (status: string, what: string) =>
  new UpstreamError(
    'auth',
    `Metered says the account has no TURN plan (${status}) while ${what}: subscribe on Metered's dashboard`,
    'not_subscribed',
  );

const unexpectedStatus = (status: string, what: string, code: number) =>
  new UpstreamError('bad_response', `Metered API answered ${status} while ${what}`, String(code));

function retryAfterSeconds(header: string | string[] | undefined): number | undefined {
  const raw = Array.isArray(header) ? header[0] : header;
  if (raw === undefined) return undefined;
  const seconds = /^\d+$/.test(raw.trim())
    ? Number(raw.trim())
    : Math.ceil((Date.parse(raw) - Date.now()) / 1000);
  if (!Number.isFinite(seconds) || seconds < 1) return undefined;
  return Math.min(seconds, MAX_RETRY_AFTER_SECONDS);
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

/**
 * Lenient where Metered's own samples differ (label may be missing, numbers may come as
 * strings), strict where it matters: a credential without the expiry asked for may never
 * expire, so it is refused.
 */
function parseMinted(json: unknown, expiryInSeconds: number): MintedCredential {
  const o = json as Record<string, unknown> | null;
  const str = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= 512;
  if (
    typeof o !== 'object' ||
    o === null ||
    !str(o.username) ||
    !str(o.password) ||
    !str(o.apiKey)
  ) {
    throw new UpstreamError(
      'bad_response',
      'Metered API sent an unexpected credential (expected username, password and apiKey)',
      'invalid_shape',
    );
  }
  const username = o.username as string;
  const echoed = o.expiryInSeconds;
  const seconds = typeof echoed === 'string' && /^\d+$/.test(echoed) ? Number(echoed) : echoed;
  if (seconds !== expiryInSeconds) {
    const got =
      echoed === undefined || echoed === null
        ? 'none, which Metered documents as never expiring'
        : typeof seconds === 'number'
          ? String(seconds)
          : `a ${typeof echoed}`;
    throw new UnusableMintError(
      `Metered minted a credential with another expiry than asked for (asked ${expiryInSeconds} s, got ${got}); turnkey deletes it and does not hand it out`,
      username,
    );
  }
  return { username, password: o.password as string, apiKey: o.apiKey as string };
}

/** Listed TURN entries must carry the credential just minted, not another one. */
function checkUsername(servers: IceServer[], username: string): void {
  if (servers.some((s) => s.username !== undefined && s.username !== username)) {
    throw new UpstreamError(
      'bad_response',
      'Metered listed ICE servers whose username is not the credential just minted',
      'invalid_shape',
    );
  }
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
      if (
        typeof o.username !== 'string' ||
        o.username === '' ||
        typeof o.credential !== 'string' ||
        o.credential === ''
      ) {
        throw invalid(`TURN entry ${i} lacks username/credential`);
      }
      server.username = o.username;
      server.credential = o.credential;
    }
    return server;
  });
}
