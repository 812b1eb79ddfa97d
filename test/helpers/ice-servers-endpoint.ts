import { createServer as createHttpServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Leaf } from './dated-pki';

/**
 * A stand-in credential service for `turnkey check` tests: on 127.0.0.1, over https with
 * `leaf` (else http), it answers every request with one ICE server holding `urls` and a
 * credential that expires in ttl (600 s).
 */
export async function serveIceServers(
  urls: string[],
  leaf?: Leaf,
): Promise<{ url: string; close(): Promise<void> }> {
  const handler = (_req: unknown, res: ServerResponse) => {
    const expiry = Math.floor(Date.now() / 1000) + 600;
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        ttl: 600,
        expiresAt: new Date(expiry * 1000).toISOString(),
        iceServers: [{ urls, username: `${expiry}:turnkey-check`, credential: 'c' }],
      }),
    );
  };
  const server: Server = leaf ? createHttpsServer(leaf, handler) : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${leaf ? 'https' : 'http'}://127.0.0.1:${port}/v1/ice-servers`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
