import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for Metered's REST API, implementing the two documented endpoints:
 *   POST /api/v1/turn/credential?secretKey=…   body {expiryInSeconds,label} → {username,password,apiKey,…}
 *   GET  /api/v1/turn/credentials?apiKey=…      → [{urls,username?,credential?}, …]
 * `mode` switches it into the failures an upstream can show.
 */
export type FakeMode =
  | 'ok'
  | 'unauthorized'
  | 'server_error'
  | 'hang'
  | 'invalid_json'
  | 'slow_body'
  | 'wrong_shape'
  | 'reset'
  /** Mints fine, but lists TURN servers without username/credential. */
  | 'list_without_credentials';

export interface FakeMetered {
  url: string;
  secretKey: string;
  mode: FakeMode;
  /** Milliseconds every answer waits before being sent. */
  delayMs: number;
  mints: number;
  lists: number;
  /** Bodies of mint requests, parsed. */
  mintBodies: unknown[];
  /** Username/password the fake handed out most recently (the minted secrets). */
  lastIssued?: { username: string; password: string; apiKey: string };
  close(): Promise<void>;
}

export async function startFakeMetered(
  opts: { secretKey?: string; host?: string; port?: number } = {},
): Promise<FakeMetered> {
  const secretKey = opts.secretKey ?? `sk_${randomBytes(16).toString('hex')}`;
  const apiKeys = new Map<string, { username: string; password: string }>();
  const open = new Set<ServerResponse>();

  const state: FakeMetered = {
    url: '',
    secretKey,
    mode: 'ok',
    delayMs: 0,
    mints: 0,
    lists: 0,
    mintBodies: [],
    close: async () => {
      for (const res of open) res.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const fail = (res: ServerResponse): boolean => {
    switch (state.mode) {
      case 'ok':
      case 'list_without_credentials':
        return false;
      case 'unauthorized':
        json(res, 401, { message: 'Invalid secretKey' });
        return true;
      case 'server_error':
        json(res, 500, { message: 'internal' });
        return true;
      case 'hang':
        return true; // never answers
      case 'invalid_json':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"username": "x", ');
        return true;
      case 'slow_body': {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('[');
        const trickle = setInterval(() => res.write(' '), 50);
        res.on('close', () => clearInterval(trickle));
        return true;
      }
      case 'wrong_shape':
        json(res, 200, { hello: 'world' });
        return true;
      case 'reset':
        res.socket?.destroy();
        return true;
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    const url = new URL(req.url ?? '/', 'http://fake');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));

    if (req.method === 'POST' && url.pathname === '/api/v1/turn/credential') {
      state.mints++;
      if (fail(res)) return;
      if (url.searchParams.get('secretKey') !== secretKey)
        return json(res, 401, { message: 'Invalid secretKey' });
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
        expiryInSeconds?: number;
        label?: string;
      };
      state.mintBodies.push(body);
      const issued = {
        username: randomBytes(12).toString('hex'),
        password: randomBytes(12).toString('base64'),
        apiKey: randomBytes(16).toString('hex'),
      };
      apiKeys.set(issued.apiKey, issued);
      state.lastIssued = issued;
      return json(res, 200, {
        ...issued,
        expiryInSeconds: body.expiryInSeconds ?? 0,
        label: body.label ?? '',
      });
    }
    if (req.method === 'GET' && url.pathname === '/api/v1/turn/credentials') {
      state.lists++;
      if (fail(res)) return;
      const cred = apiKeys.get(url.searchParams.get('apiKey') ?? '');
      if (!cred) return json(res, 401, { message: 'Invalid apiKey' });
      if (state.mode === 'list_without_credentials') {
        return json(res, 200, [{ urls: 'turn:global.relay.metered.example:80' }]);
      }
      return json(res, 200, [
        { urls: 'stun:stun.relay.metered.example:80' },
        {
          urls: 'turn:global.relay.metered.example:80',
          username: cred.username,
          credential: cred.password,
        },
        {
          urls: 'turn:global.relay.metered.example:80?transport=tcp',
          username: cred.username,
          credential: cred.password,
        },
        {
          urls: 'turns:global.relay.metered.example:443?transport=tcp',
          username: cred.username,
          credential: cred.password,
        },
      ]);
    }
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
