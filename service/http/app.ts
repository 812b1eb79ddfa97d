import { randomUUID } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { InvalidInputError } from '../providers/errors';
import type { TurnProvider } from '../providers/types';
import { createTokenChecker } from './auth';
import { classify, clientErrorResponse, sendError } from './errors';
import type { Metrics } from './metrics';

export interface AppOptions {
  provider: TurnProvider;
  /** Empty disables auth; the config allows that only for the STUN-only provider. */
  apiTokens: string[];
  rateLimitPerMinute: number;
  /** A pino logger; Fastify binds the request id to each request's child. */
  logger: FastifyBaseLogger;
  metrics: Metrics;
  /** PEM certificate chain and key: the app then speaks HTTPS only. */
  https?: { cert: string; key: string };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Index into API_TOKENS of the token that authenticated this request. */
    tokenIndex: number;
  }
}

const ICE_SERVERS = '/v1/ice-servers';
// No /metrics here: it has its own listener (metrics-app.ts), off the public address.
const ROUTES = [ICE_SERVERS, '/healthz', '/readyz'];
const OTHER_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function parseTtl(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !/^\d{1,9}$/.test(raw)) {
    throw new InvalidInputError('ttl', 'ttl must be a whole number of seconds, e.g. ttl=3600');
  }
  return Number(raw);
}

function singleQueryValue(query: Record<string, unknown>, name: string): unknown {
  const v = query[name];
  if (Array.isArray(v)) throw new InvalidInputError(name, `${name} must be given once`);
  return v;
}

export function buildApp(opts: AppOptions): FastifyInstance {
  const { provider, metrics } = opts;
  const checkToken = opts.apiTokens.length > 0 ? createTokenChecker(opts.apiTokens) : undefined;
  let closing = false;

  // Typed as the plain-HTTP instance: routes and hooks are the same over TLS.
  const app = Fastify({
    ...(opts.https ? { https: opts.https } : {}),
    loggerInstance: opts.logger,
    // One access-log line per request from onResponse below, without query strings.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: 1024,
    // Slow or stalled clients must not hold sockets forever.
    requestTimeout: 10_000,
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
    },
  });

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

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    if (closing)
      return reply
        .code(503)
        .send({ status: 'not_ready', provider: provider.name, detail: 'shutting down' });
    const state = await provider.checkReady();
    return reply.code(state.ready ? 200 : 503).send({
      status: state.ready ? 'ready' : 'not_ready',
      provider: provider.name,
      detail: state.detail,
    });
  });

  app.register(async (scope) => {
    await scope.register(rateLimit, {
      global: false,
      // After authentication, so the key is the verified token, never an unchecked header.
      hook: 'preHandler',
      errorResponseBuilder: (_request, context) => ({
        statusCode: 429,
        message: `rate limit of ${context.max} requests per ${context.after} for this token and user exceeded; retry after the Retry-After header`,
      }),
    });

    scope.get(
      ICE_SERVERS,
      {
        // Callback style like the hooks above; a refusal answers without calling done.
        onRequest: (request: FastifyRequest, reply, done) => {
          if (!checkToken) return done();
          const result = checkToken(
            request.headers.authorization,
            request.query as Record<string, unknown>,
          );
          if (!result.ok) {
            reply.header('www-authenticate', 'Bearer');
            sendError(reply, 401, result.message);
            return;
          }
          request.tokenIndex = result.tokenIndex;
          done();
        },
        config: {
          rateLimit: {
            max: opts.rateLimitPerMinute,
            timeWindow: 60_000,
            keyGenerator: (request: FastifyRequest) => {
              const user = (request.query as Record<string, unknown>).user;
              return `${request.tokenIndex}\u0000${typeof user === 'string' ? user : ''}`;
            },
          },
        },
      },
      async (request) => {
        const query = request.query as Record<string, unknown>;
        const user = singleQueryValue(query, 'user');
        const ttl = parseTtl(singleQueryValue(query, 'ttl'));
        const result = await provider.getIceServers(
          user as string,
          ttl === undefined ? {} : { ttl },
        );
        metrics.credentialIssued(provider.name);
        return result;
      },
    );
  });

  app.addHook('preClose', async () => {
    closing = true;
  });

  return app;
}
