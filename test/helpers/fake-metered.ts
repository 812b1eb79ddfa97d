import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for Metered's REST API (metered.ca/docs/turn-rest-api), as strict as the
 * documented one:
 *   POST   /api/v1/turn/credential?secretKey=…   {expiryInSeconds,label} → {username,password,expiryInSeconds,label,apiKey}
 *   GET    /api/v1/turn/credentials?apiKey=…[&region=…]                → [{urls,username?,credential?}, …]
 *   DELETE /api/v1/turn/credential?secretKey=…   {username}            → {success,message}
 * Errors in Metered's shapes: the secret-key calls answer `400 {message}` (a wrong secret key
 * included: "Invalid request. App not found"), the apiKey call `401 {error: "Invalid API Key"}`
 * or `400 {error: "Please specify API Key"}`. Credentials expire on the fake's clock (`now`)
 * and can be deleted; a dashboard-made, never-expiring credential comes from `addCredential`.
 *
 * Stricter than Metered in one place: an omitted expiryInSeconds is refused (Metered makes a
 * credential that never expires, which turnkey must never do).
 * Assumed where Metered's docs say nothing: an unknown region and an expired or deleted
 * credential's apiKey are refused on the list call.
 */
export type FakeFault =
  | 'hang'
  | 'slow_body'
  | 'reset'
  /** 500 {message, eventId}, as Metered's internal errors. */
  | 'server_error'
  /** 502 with an HTML page, as a proxy in front of Metered would send. */
  | 'bad_gateway'
  /** 429 with `Retry-After: fake.retryAfterSeconds`. */
  | 'rate_limited'
  | 'invalid_json'
  | 'wrong_shape'
  /** The key of this call is refused, in Metered's shape for that call. */
  | 'unauthorized'
  /** 400 "Invalid request. Not subscribed to any turn server plan". */
  | 'not_subscribed'
  /** mint: the credential is created, but the reply has no expiryInSeconds (never expires). */
  | 'no_expiry'
  /** mint: the credential is created with (and echoes) another expiry than asked for. */
  | 'other_expiry'
  /** list: TURN entries without username/credential. */
  | 'list_without_credentials'
  /** list: the ICE servers of another credential. */
  | 'other_username'
  /** The key is refused with a message that quotes it (to check turnkey redacts it). */
  | 'echoes_key'
  /** Refused with the key lower-cased and the request's own URL (the key percent-encoded in it). */
  | 'echoes_key_variants';

export type FakeOperation = 'mint' | 'list' | 'delete';

export interface FakeCredential {
  username: string;
  password: string;
  apiKey: string;
  label: string;
  /** Fake-clock milliseconds; undefined: never expires. */
  expiresAt?: number;
  deleted: boolean;
}

export const METERED_REGIONS = [
  'global',
  'north_america',
  'europe',
  'eu',
  'asia',
  'oceania',
  'us_west',
  'us_central',
  'us_east',
  'canada_central',
  'canada_east',
  'europe_west',
  'europe_central',
  'asia_west',
  'asia_east',
  'canada',
  'usa',
  'uk',
  'singapore',
  'india',
  'australia',
  'standard',
];

export interface FakeMetered {
  url: string;
  /** The account's secret key; change it to make the configured one wrong. */
  secretKey: string;
  /** A failure each operation answers with until cleared (set to undefined). */
  fail: Partial<Record<FakeOperation, FakeFault>>;
  /** Milliseconds every answer waits before being sent. */
  delayMs: number;
  /** The fake's clock, for expiry. */
  now: () => number;
  retryAfterSeconds: number;
  /** Requests per operation, failed ones included. */
  mints: number;
  lists: number;
  deletes: number;
  /** Bodies of mint requests, parsed. */
  mintBodies: unknown[];
  /** Query strings of list requests. */
  listQueries: URLSearchParams[];
  /** Every credential ever created, by username. */
  credentials: Map<string, FakeCredential>;
  /** Usernames deleted, in order. */
  deleted: string[];
  /** The most recent credential minted (its secrets, for leak checks). */
  lastIssued?: FakeCredential;
  /** Credentials not deleted and not expired. */
  live(): FakeCredential[];
  /** A long-lived credential, as made on Metered's dashboard (Dashboard → TURN Server). */
  addCredential(): FakeCredential;
  close(): Promise<void>;
}

export async function startFakeMetered(
  opts: { secretKey?: string; host?: string; port?: number } = {},
): Promise<FakeMetered> {
  const open = new Set<ServerResponse>();
  const byApiKey = new Map<string, FakeCredential>();

  const newCredential = (label: string, expiresAt: number | undefined): FakeCredential => {
    const cred: FakeCredential = {
      username: randomBytes(12).toString('hex'),
      password: randomBytes(12).toString('base64'),
      apiKey: randomBytes(18).toString('hex'),
      label,
      ...(expiresAt !== undefined ? { expiresAt } : {}),
      deleted: false,
    };
    state.credentials.set(cred.username, cred);
    byApiKey.set(cred.apiKey, cred);
    return cred;
  };
  const usable = (c: FakeCredential | undefined): c is FakeCredential =>
    c !== undefined && !c.deleted && (c.expiresAt === undefined || c.expiresAt > state.now());

  const state: FakeMetered = {
    url: '',
    secretKey: opts.secretKey ?? `sk_${randomBytes(24).toString('base64url')}`,
    fail: {},
    delayMs: 0,
    now: Date.now,
    retryAfterSeconds: 7,
    mints: 0,
    lists: 0,
    deletes: 0,
    mintBodies: [],
    listQueries: [],
    credentials: new Map(),
    deleted: [],
    live: () => [...state.credentials.values()].filter(usable),
    addCredential: () => newCredential('dashboard', undefined),
    close: async () => {
      for (const res of open) res.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const json = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const badKey = (res: ServerResponse, op: FakeOperation) =>
    op === 'list'
      ? json(res, 401, { error: 'Invalid API Key' })
      : json(res, 400, { message: 'Invalid request. App not found' });

  /** Answers with the injected transport/server failure, if any; true when it did. */
  const injected = (res: ServerResponse, op: FakeOperation): boolean => {
    switch (state.fail[op]) {
      case 'hang':
        return true; // never answers
      case 'slow_body': {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('[');
        const trickle = setInterval(() => res.write(' '), 50);
        res.on('close', () => clearInterval(trickle));
        return true;
      }
      case 'reset':
        res.socket?.destroy();
        return true;
      case 'server_error':
        json(res, 500, {
          message: 'Internal server error occurred. If the problem persists, contact support',
          eventId: randomBytes(8).toString('hex'),
        });
        return true;
      case 'bad_gateway':
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
        return true;
      case 'rate_limited':
        json(
          res,
          429,
          { message: 'Too many requests' },
          { 'retry-after': String(state.retryAfterSeconds) },
        );
        return true;
      case 'invalid_json':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"username": "x", ');
        return true;
      case 'wrong_shape':
        json(res, 200, { hello: 'world' });
        return true;
      case 'unauthorized':
        badKey(res, op);
        return true;
      case 'echoes_key': {
        const url = new URL(res.req.url ?? '/', 'http://fake');
        const key = url.searchParams.get(op === 'list' ? 'apiKey' : 'secretKey');
        if (op === 'list') json(res, 401, { error: `Invalid API Key ${key}` });
        else json(res, 400, { message: `Invalid secretKey ${key}` });
        return true;
      }
      case 'echoes_key_variants': {
        const url = new URL(res.req.url ?? '/', 'http://fake');
        const key = url.searchParams.get(op === 'list' ? 'apiKey' : 'secretKey') ?? '';
        const message = `Invalid key ${key.toLowerCase()} in https://app.metered.live${res.req.url}`;
        json(res, 400, op === 'list' ? { error: message } : { message });
        return true;
      }
      case 'not_subscribed':
        json(res, 400, { message: 'Invalid request. Not subscribed to any turn server plan' });
        return true;
      default:
        return false;
    }
  };

  const jsonBody = (req: IncomingMessage, raw: string): Record<string, unknown> | undefined => {
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return undefined;
    try {
      const body = JSON.parse(raw || '{}') as unknown;
      return typeof body === 'object' && body !== null && !Array.isArray(body)
        ? (body as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  };

  const mint = (req: IncomingMessage, res: ServerResponse, url: URL, raw: string) => {
    state.mints++;
    if (injected(res, 'mint')) return;
    if (url.searchParams.get('secretKey') !== state.secretKey) return badKey(res, 'mint');
    const body = jsonBody(req, raw);
    if (!body)
      return json(res, 400, {
        message: 'request body must be JSON (Content-Type: application/json)',
      });
    state.mintBodies.push(body);
    const { expiryInSeconds: expiry, label = '' } = body;
    if (typeof expiry !== 'number' || !Number.isInteger(expiry) || expiry <= 0) {
      return json(res, 400, {
        message: 'please enter a positive integer value for expiryInSeconds',
      });
    }
    if (typeof label !== 'string' || label.length >= 100) {
      return json(res, 400, { message: 'Label must be a string of less than 100 characters' });
    }
    const fault = state.fail.mint;
    const seconds = fault === 'other_expiry' ? expiry * 2 : expiry;
    const cred = newCredential(
      label,
      fault === 'no_expiry' ? undefined : state.now() + seconds * 1000,
    );
    state.lastIssued = cred;
    const { username, password, apiKey } = cred;
    return json(res, 200, {
      username,
      password,
      ...(fault === 'no_expiry' ? {} : { expiryInSeconds: seconds }),
      label,
      apiKey,
    });
  };

  const list = (res: ServerResponse, url: URL) => {
    state.lists++;
    state.listQueries.push(url.searchParams);
    if (injected(res, 'list')) return;
    const apiKey = url.searchParams.get('apiKey');
    if (!apiKey) return json(res, 400, { error: 'Please specify API Key' });
    const cred = byApiKey.get(apiKey);
    if (!usable(cred)) return badKey(res, 'list');
    const region = url.searchParams.get('region') ?? 'global';
    if (!METERED_REGIONS.includes(region)) return json(res, 400, { error: 'Invalid region' });
    const host = `${region}.relay.metered.example`;
    if (state.fail.list === 'list_without_credentials') {
      return json(res, 200, [{ urls: `turn:${host}:80` }]);
    }
    const username = state.fail.list === 'other_username' ? 'someone-else' : cred.username;
    const auth = { username, credential: cred.password };
    return json(res, 200, [
      { urls: 'stun:stun.relay.metered.example:80' },
      { urls: `turn:${host}:80`, ...auth },
      { urls: `turn:${host}:80?transport=tcp`, ...auth },
      { urls: `turns:${host}:443?transport=tcp`, ...auth },
    ]);
  };

  const remove = (req: IncomingMessage, res: ServerResponse, url: URL, raw: string) => {
    state.deletes++;
    if (injected(res, 'delete')) return;
    if (url.searchParams.get('secretKey') !== state.secretKey) return badKey(res, 'delete');
    const body = jsonBody(req, raw);
    if (!body || typeof body.username !== 'string') {
      return json(res, 400, {
        message:
          'username is required, please provide the username of the credential to be removed in the request body',
      });
    }
    const cred = state.credentials.get(body.username);
    if (!cred || cred.deleted) {
      return json(res, 400, { message: 'credential of the specified username is not found' });
    }
    cred.deleted = true;
    state.deleted.push(cred.username);
    return json(res, 200, { success: true, message: 'credential removed' });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    const url = new URL(req.url ?? '/', 'http://fake');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));

    if (url.pathname === '/api/v1/turn/credential' && req.method === 'POST')
      return mint(req, res, url, raw);
    if (url.pathname === '/api/v1/turn/credential' && req.method === 'DELETE')
      return remove(req, res, url, raw);
    if (url.pathname === '/api/v1/turn/credentials' && req.method === 'GET') return list(res, url);
    json(res, 404, { message: 'not found' });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) =>
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve),
  );
  const { port } = server.address() as AddressInfo;
  state.url = `http://127.0.0.1:${port}`;
  return state;
}
