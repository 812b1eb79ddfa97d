import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { ReloadFailure } from '../config/reload';
import type { TurnProvider } from '../providers/types';
import type { Revocations } from '../revocations/revocations';
import { createTokenChecker } from './auth';
import { classify, clientErrorResponse, sendError } from './errors';
import { CONNECTION_LIMITS, type ConnectionLimits } from './limits';
import type { Metrics } from './metrics';
import { HEALTH_ROUTES, healthRoutes } from './routes/health';
import { ICE_SERVERS, iceServersRoute } from './routes/ice-servers';
import { revocationRoutes } from './routes/revocations';
import { TLS_OPTIONS } from './tls';

export interface AppOptions {
  provider: TurnProvider;
  /** Empty disables auth; the config allows that only for the STUN-only provider. */
  apiTokens: string[];
  rateLimitPerMinute: number;
  /** Across user ids, per token (per client address without tokens). */
  tokenRateLimitPerMinute: number;
  /** A pino logger; Fastify binds the request id to each request's child. */
  logger: FastifyBaseLogger;
  metrics: Metrics;
  /** PEM certificate chain and key: the app then speaks HTTPS only. */
  https?: { cert: string; key: string };
  /** Reloads of the certificate or TURN secret that failed: shown in /readyz's detail. */
  reloadFailures?: () => ReloadFailure[];
  /** The served certificate when it needs attention (start.ts), for /readyz's detail. */
  certificateDetail?: () => object | undefined;
  /** POST/GET/DELETE /v1/revocations, and ice-servers refusing revoked users. */
  revocations?: Revocations;
  /** Overrides of CONNECTION_LIMITS (tests, to reach a bound quickly). */
  limits?: Partial<ConnectionLimits>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Index into API_TOKENS of the token that authenticated this request. */
    tokenIndex: number;
  }
}

// No /metrics here: it has its own listener (metrics-app.ts), off the public address.
const ROUTES = [ICE_SERVERS, ...HEALTH_ROUTES];
const OTHER_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** The API's Fastify app: app-wide options, hooks and error shapes; the routes are in routes/. */
export function buildApp(opts: AppOptions): FastifyInstance {
  const { provider, metrics } = opts;
  const checkToken = opts.apiTokens.length > 0 ? createTokenChecker(opts.apiTokens) : undefined;
  let closing = false;
  const limits = { ...CONNECTION_LIMITS, ...opts.limits };
  // Constructor options of Node's server: the sweep interval cannot be changed afterwards.
  const serverOptions = {
    headersTimeout: limits.headersTimeoutMs,
    connectionsCheckingInterval: limits.checkIntervalMs,
  };

  // Typed as the plain-HTTP instance: routes and hooks are the same over TLS.
  const app = Fastify({
    ...(opts.https
      ? { https: { ...opts.https, ...TLS_OPTIONS, ...serverOptions } }
      : { http: serverOptions }),
    loggerInstance: opts.logger,
    // One access-log line per request from onResponse below, without query strings.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: 1024,
    // Slow or stalled clients must not hold sockets forever.
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: 15_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // e.g. a path with a broken percent-escape, which the router cannot even decode.
    frameworkErrors: (_err, _request, reply) =>
      sendError(reply, 400, 'malformed URL: check its percent-encoding'),
    clientErrorHandler: (err, socket) => {
      if ((err as { code?: string }).code === 'ECONNRESET' || !socket.writable) return;
      socket.end(clientErrorResponse(err as { code?: string }));
      // end() alone half-closes: a client that keeps sending (a slowloris past headersTimeout)
      // would keep the socket. Destroyed once the answer is flushed.
      socket.destroySoon();
    },
  });

  app.server.maxConnections = limits.maxConnections;

  app.decorateRequest('tokenIndex', -1);

  // Callback-style hooks: they run on every request, and an async hook costs a promise and
  // a microtask turn each (measured with --cpu-prof; see bench/service-throughput.ts).
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    done();
  });

  app.addHook('onSend', (_request, reply, payload, done) => {
    // A keep-alive socket that turns idle after close() began would hold shutdown open
    // until the client's own keep-alive timer fires.
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.observeRequest(route, request.method, reply.statusCode, seconds);
    request.log.info(
      {
        method: request.method,
        path: pathOf(request.url),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
    done();
  });

  app.setErrorHandler((err, request, reply) => {
    const { status, message, log, retryAfter } = classify(err);
    if (log) {
      // Not under `err`: pino's error serializer would add stacks and own properties.
      const e = err as { name?: string; reason?: string };
      request.log.error({ error: e.name, reason: e.reason, detail: message }, 'request failed');
    }
    if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
    return sendError(reply, status, message);
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(
      reply,
      404,
      `no route for ${request.method} ${pathOf(request.url)}; see GET ${ICE_SERVERS}`,
    ),
  );

  for (const url of ROUTES) {
    app.route({
      method: [...OTHER_METHODS],
      url,
      handler: (request, reply) => {
        reply.header('allow', 'GET, HEAD');
        return sendError(reply, 405, `${request.method} is not allowed on ${url}: use GET`);
      },
    });
  }

  healthRoutes(app, {
    provider,
    isClosing: () => closing,
    checkToken,
    reloadFailures: opts.reloadFailures,
    certificateDetail: opts.certificateDetail,
  });
  if (opts.revocations) revocationRoutes(app, { revocations: opts.revocations, checkToken });
  const { revocations } = opts;
  app.register(iceServersRoute, {
    provider,
    metrics,
    checkToken,
    ...(revocations ? { revoked: (user: string) => revocations.of(user) } : {}),
    rateLimitPerMinute: opts.rateLimitPerMinute,
    tokenRateLimitPerMinute: opts.tokenRateLimitPerMinute,
  });

  app.addHook('preClose', async () => {
    closing = true;
  });

  return app;
}
