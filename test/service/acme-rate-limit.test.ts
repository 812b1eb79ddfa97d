import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startAcme } from '../../service/acme/manager';
import { certificateDir, makeCertificate, removeCertificates } from '../helpers/certificates';
import { captureLogs } from '../helpers/log-capture';

/**
 * A CA's rate limit (Let's Encrypt's 429 rateLimited with Retry-After), which the lab's Pebble
 * never sends: a minimal ACME directory on loopback answers the account and refuses the order
 * as Let's Encrypt does. The service names the limit in the CA's words and makes no attempt
 * before the time the CA gave, not after its own one-minute backoff, and not by sleeping
 * inside acme-client.
 */

const RETRY_AFTER_S = 7200;
const DETAIL =
  'too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-12-05 10:00:00 UTC';

const pair = makeCertificate('fake-ca');
let ca: Server | undefined;
let orders = 0;
afterEach(() => ca?.close());
afterAll(removeCertificates);

async function fakeCa(): Promise<string> {
  orders = 0;
  const server = createServer(
    { cert: readFileSync(pair.cert), key: readFileSync(pair.key) },
    (req, res) => {
      const base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
      res.setHeader('replay-nonce', `nonce${Math.random().toString(36).slice(2)}`);
      const json = (status: number, body: object, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      req.resume();
      req.on('end', () => {
        if (req.url === '/dir')
          return json(200, {
            newNonce: `${base}/nonce`,
            newAccount: `${base}/acct`,
            newOrder: `${base}/order`,
          });
        if (req.url === '/nonce') return res.writeHead(200).end();
        if (req.url === '/acct')
          return json(201, { status: 'valid' }, { location: `${base}/acct/1` });
        if (req.url === '/order') {
          orders += 1;
          res.writeHead(429, {
            'content-type': 'application/problem+json',
            'retry-after': String(RETRY_AFTER_S),
          });
          return res.end(
            JSON.stringify({
              type: 'urn:ietf:params:acme:error:rateLimited',
              detail: DETAIL,
              status: 429,
            }),
          );
        }
        json(404, {});
      });
    },
  );
  ca = server;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `https://127.0.0.1:${(server.address() as { port: number }).port}/dir`;
}

describe('a CA rate limit', () => {
  it('is named with the CA’s words, and the next order waits for its Retry-After', async () => {
    const directoryUrl = await fakeCa();
    const logs = captureLogs();
    const abort = new AbortController();
    const started = Date.now();
    const running = startAcme(
      {
        email: 'ops@example.com',
        directoryUrl,
        domains: ['turn.example.com'],
        httpPort: 0,
        stateDir: join(certificateDir(), 'state'),
        caPem: readFileSync(pair.cert, 'utf8'),
      },
      {
        logger: pino({ level: 'info' }, logs.stream),
        metrics: { acmeOrder: () => {} },
        retry: { minMs: 100, maxMs: 1000 },
        signal: abort.signal,
      },
    );
    try {
      await expect
        .poll(() => logs.parsed().find((l) => l.kind === 'rate_limited'), { timeout: 10_000 })
        .toBeDefined();
      const line = logs.parsed().find((l) => l.kind === 'rate_limited') as Record<string, string>;
      expect(line.msg).toContain(`rate limit (the CA says: ${DETAIL})`);
      const next = Date.parse(line.nextAttemptAt as string);
      expect(next - started).toBeGreaterThanOrEqual(RETRY_AFTER_S * 1000 - 5_000);
      // Its own backoff (100 ms here) would have ordered again by now; the CA's time holds.
      await new Promise((r) => setTimeout(r, 1_000));
      expect(orders).toBe(1);
    } finally {
      abort.abort();
      await expect(running).rejects.toThrow('stopped before a certificate was obtained');
    }
  });
});
