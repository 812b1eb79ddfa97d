import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../service/http/app';
import { CONNECTION_LIMITS } from '../../service/http/limits';
import { createMetrics } from '../../service/http/metrics';
import { createLogger } from '../../service/logger';
import { StunProvider } from '../../service/providers/stun';
import { startTestService } from '../helpers/service';

/** What slow or numerous clients can hold of the API listener, over real sockets. */

const open = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });

/** Resolves with the seconds until the server closed `socket`, or 'open' after `limitS`. */
const closedWithin = (socket: Socket, limitS: number, started = performance.now()) =>
  new Promise<number | 'open'>((resolve) => {
    const timer = setTimeout(() => resolve('open'), limitS * 1000);
    // Read (and drop) what arrives: a paused socket never sees the server's end.
    socket.resume();
    socket.once('close', () => {
      clearTimeout(timer);
      resolve((performance.now() - started) / 1000);
    });
  });

/** One GET /healthz on a keep-alive socket: the status line, or what happened instead. */
const ask = (socket: Socket) =>
  new Promise<string>((resolve) => {
    const done = (what: string) => {
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(what);
    };
    const onData = (d: Buffer) => done(d.toString('latin1').split('\r\n')[0] ?? '');
    const onClose = () => done('closed');
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write('GET /healthz HTTP/1.1\r\nHost: turnkey\r\n\r\n');
  });

describe('slow clients (the production limits)', () => {
  let svc: Awaited<ReturnType<typeof startTestService>>;
  beforeAll(async () => {
    svc = await startTestService({ TURN_PROVIDER: 'stun' });
  });
  afterAll(async () => svc?.service.close());
  const port = () => Number(new URL(svc.url).port);

  it('are the documented defaults on the listener', () => {
    const server = svc.service.app.server;
    expect({
      headersTimeout: server.headersTimeout,
      requestTimeout: server.requestTimeout,
      connectionsCheckingInterval: (server as { connectionsCheckingInterval?: number })
        .connectionsCheckingInterval,
      maxConnections: server.maxConnections,
    }).toEqual({
      headersTimeout: 5_000,
      requestTimeout: 10_000,
      connectionsCheckingInterval: 1_000,
      maxConnections: 10_000,
    });
    expect(CONNECTION_LIMITS.maxConnections).toBe(10_000);
  });

  it('a client trickling one header byte a second is cut off within 12 s', async () => {
    const socket = await open(port());
    const started = performance.now();
    socket.on('error', () => {});
    socket.write('GET /healthz HTTP/1.1\r\nHost: turnkey\r\nX-Slow: ');
    const trickle = setInterval(() => socket.writable && socket.write('a'), 1000);
    const closed = await closedWithin(socket, 13, started);
    clearInterval(trickle);
    socket.destroy();
    expect(closed).not.toBe('open');
    expect(closed).toBeLessThanOrEqual(12);
  }, 20_000);

  // A client that never reads sees no end: what counts is the server letting go of the socket.
  it('a client that connects, sends nothing and reads nothing is let go of within 12 s', async () => {
    const server = svc.service.app.server;
    const connections = () =>
      new Promise<number>((r, j) => server.getConnections((e, n) => (e ? j(e) : r(n))));
    const socket = await open(port());
    socket.on('error', () => {});
    const started = performance.now();
    while ((await connections()) > 0 && performance.now() - started < 13_000)
      await new Promise((r) => setTimeout(r, 250));
    const seconds = (performance.now() - started) / 1000;
    socket.destroy();
    expect(seconds).toBeLessThanOrEqual(12);
  }, 20_000);
});

describe('the connection cap (maxConnections, 3 here to reach it)', () => {
  const app = buildApp({
    provider: new StunProvider({ stunUris: [], credentialTtl: 600 }),
    apiTokens: [],
    rateLimitPerMinute: 60,
    tokenRateLimitPerMinute: 600,
    logger: createLogger('silent'),
    metrics: createMetrics(),
    limits: { maxConnections: 3 },
  });
  let port: number;
  beforeAll(async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(async () => app.close());

  it('closes connection N+1 at once while the N open ones keep working', async () => {
    const held = await Promise.all([open(port), open(port), open(port)]);
    for (const s of held) expect(await ask(s)).toBe('HTTP/1.1 200 OK');
    const extra = await open(port);
    extra.on('error', () => {});
    expect(await ask(extra)).toBe('closed');
    for (const s of held) expect(await ask(s)).toBe('HTTP/1.1 200 OK');
    // A slot freed is a slot for the next client.
    (held.pop() as Socket).destroy();
    await new Promise((r) => setTimeout(r, 100));
    const next = await open(port);
    expect(await ask(next)).toBe('HTTP/1.1 200 OK');
    for (const s of [...held, next]) s.destroy();
  });
});
