import { createServer, type Server } from 'node:http';
import { ConfigError } from '../config/errors';

/**
 * The HTTP-01 responder (RFC 8555 §8.3) on ACME_HTTP_PORT, every address of the host: it
 * answers the CA's GET for a token of an order in progress, and 404 to everything else. It is
 * plain HTTP on a public port, so it reads no body, serves no file and knows nothing but the
 * key authorizations (public by design: the CA fetches them in clear).
 */

const PATH = '/.well-known/acme-challenge/';
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

export interface ChallengeResponder {
  /** Answer `token` with `keyAuthorization` until removed. */
  set(token: string, keyAuthorization: string): void;
  remove(token: string): void;
  /** The port it listens on (ACME_HTTP_PORT, or the free one 0 picked). */
  port: number;
  close(): Promise<void>;
}

export async function listenForChallenges(port: number): Promise<ChallengeResponder> {
  const tokens = new Map<string, string>();
  const server: Server = createServer((req, res) => {
    const token = req.url?.startsWith(PATH) ? req.url.slice(PATH.length) : undefined;
    const answer = token !== undefined && TOKEN.test(token) ? tokens.get(token) : undefined;
    if (req.method === 'GET' && answer !== undefined) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(answer);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  // Slow clients hold no socket for long: the CA's request is one small GET.
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // No host: every address, IPv6 and IPv4, since the CA comes in on the public one.
    server.listen(port, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: NodeJS.ErrnoException) => {
    const why =
      err.code === 'EACCES'
        ? `port ${port} is privileged: run the service with NET_BIND_SERVICE (the stack does), or set ACME_HTTP_PORT to a port above 1023 behind a proxy that forwards /.well-known/acme-challenge/`
        : err.code === 'EADDRINUSE'
          ? `port ${port} is taken by another process on this host (a web server?): stop it, or let it forward /.well-known/acme-challenge/ to another ACME_HTTP_PORT`
          : (err.code ?? err.message);
    throw new ConfigError(`ACME_HTTP_PORT ${port} cannot be listened on: ${why}`);
  });
  const address = server.address();
  return {
    set: (token, keyAuthorization) => tokens.set(token, keyAuthorization),
    remove: (token) => tokens.delete(token),
    port: typeof address === 'object' && address ? address.port : port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
