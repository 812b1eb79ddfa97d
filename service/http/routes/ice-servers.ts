import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { REGION_LABEL } from '../../../contract';
import { InvalidInputError } from '../../providers/errors';
import type { GetIceServersOptions, TurnProvider } from '../../providers/types';
import { assertValidUserId } from '../../providers/user-id';
import type { createTokenChecker } from '../auth';
import { sendError } from '../errors';
import type { Metrics } from '../metrics';

export const ICE_SERVERS = '/v1/ice-servers';

/** The query as Fastify's parser gives it: a parameter given twice becomes an array. */
export interface IceServersQuery {
  user?: string | string[];
  ttl?: string | string[];
  region?: string | string[];
  relays?: string | string[];
  [name: string]: string | string[] | undefined;
}

function parseTtl(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,9}$/.test(raw)) {
    throw new InvalidInputError('ttl', 'ttl must be a whole number of seconds, e.g. ttl=3600');
  }
  return Number(raw);
}

/** A fleet's region label (README "Fleet"); providers without regions ignore it. */
function parseRegion(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (!REGION_LABEL.test(raw))
    throw new InvalidInputError(
      'region',
      "region must be a region label of lowercase letters, digits and '-', e.g. region=eu-west",
    );
  return raw;
}

function parseRelays(raw: string | undefined): 'nearest' | 'all' | undefined {
  if (raw === undefined) return undefined;
  if (raw !== 'nearest' && raw !== 'all')
    throw new InvalidInputError(
      'relays',
      'relays must be all (every healthy relay) or nearest (the default: the nearest plus one fallback)',
    );
  return raw;
}

function singleQueryValue(
  query: IceServersQuery,
  name: 'user' | 'ttl' | 'region' | 'relays',
): string | undefined {
  const v = query[name];
  if (Array.isArray(v)) throw new InvalidInputError(name, `${name} must be given once`);
  return v;
}

/** The request's query, checked: what the limits key on and the provider gets. */
interface CheckedQuery {
  user: string;
  options: GetIceServersOptions;
}

function checkQuery(query: IceServersQuery): CheckedQuery {
  const user = singleQueryValue(query, 'user') ?? '';
  // The provider checks it too; here first, so that the limits below never key on (and
  // never store) anything but a valid id of at most MAX_USER_ID_LENGTH characters.
  assertValidUserId(user);
  const ttl = parseTtl(singleQueryValue(query, 'ttl'));
  const region = parseRegion(singleQueryValue(query, 'region'));
  const relays = parseRelays(singleQueryValue(query, 'relays'));
  return {
    user,
    options: {
      ...(ttl === undefined ? {} : { ttl }),
      ...(region === undefined ? {} : { region }),
      ...(relays === undefined ? {} : { relays }),
    },
  };
}

const MINUTE_MS = 60_000;

/**
 * GET /v1/ice-servers?user=<id>[&ttl=<s>][&region=<label>][&relays=all|nearest]: bearer token
 * (when API_TOKENS is set), then the query checked (400 before any limit counts it), then the
 * limit per token across user ids and the limit per token and user, then the provider's ICE
 * servers. Without API_TOKENS the client's address stands in for the token.
 */
export async function iceServersRoute(
  scope: FastifyInstance,
  opts: {
    provider: TurnProvider;
    metrics: Metrics;
    checkToken: ReturnType<typeof createTokenChecker> | undefined;
    /** Users refused credentials (POST /v1/revocations). */
    revoked?: (user: string) => { until: number } | undefined;
    rateLimitPerMinute: number;
    tokenRateLimitPerMinute: number;
  },
): Promise<void> {
  const { provider, metrics, checkToken } = opts;
  await scope.register(rateLimit, { global: false });
  // Each a bounded LRU store (@fastify/rate-limit's default, 5000 keys), keyed on checked values.
  const client = (request: FastifyRequest) =>
    checkToken ? `token ${request.tokenIndex}` : `address ${request.ip}`;
  const perToken = scope.createRateLimit({
    max: opts.tokenRateLimitPerMinute,
    timeWindow: MINUTE_MS,
    keyGenerator: client,
  });
  const perUser = scope.createRateLimit({
    max: opts.rateLimitPerMinute,
    timeWindow: MINUTE_MS,
    keyGenerator: (request) => `${client(request)}\u0000${request.iceQuery?.user}`,
  });
  const limits = [
    {
      check: perToken,
      what: 'this API token (all user ids together)',
      setting: 'RATE_LIMIT_PER_TOKEN_PER_MINUTE',
    },
    { check: perUser, what: 'this API token and user', setting: 'RATE_LIMIT_PER_MINUTE' },
  ];

  scope.decorateRequest('iceQuery', undefined);

  scope.get<{ Querystring: IceServersQuery }>(
    ICE_SERVERS,
    {
      // Callback style like the app-wide hooks: no promise per request on the hot path. A
      // refusal answers without calling done.
      onRequest: (request, reply, done) => {
        if (!checkToken) return done();
        const result = checkToken(request.headers.authorization, request.query);
        if (!result.ok) {
          reply.header('www-authenticate', 'Bearer');
          sendError(reply, 401, result.message);
          return;
        }
        request.tokenIndex = result.tokenIndex;
        done();
      },
      preHandler: async (request, reply) => {
        request.iceQuery = checkQuery(request.query);
        for (const { check, what, setting } of limits) {
          const verdict = await check(request);
          if (verdict.isAllowed || !verdict.isExceeded) continue;
          reply.header('retry-after', String(verdict.ttlInSeconds));
          return sendError(
            reply,
            429,
            `rate limit of ${verdict.max} requests per minute for ${what} exceeded; retry after the Retry-After header, or raise ${setting}`,
          );
        }
      },
    },
    async (request, reply) => {
      const { user, options } = request.iceQuery as CheckedQuery;
      const revoked = opts.revoked?.(user);
      if (revoked)
        return sendError(
          reply,
          403,
          `user ${user} is revoked until ${new Date(revoked.until).toISOString()}`,
          'revoked',
        );
      const result = await provider.getIceServers(user, options);
      metrics.credentialIssued(provider.name);
      return result;
    },
  );
}

declare module 'fastify' {
  interface FastifyRequest {
    /** GET /v1/ice-servers: the query once checked. */
    iceQuery: CheckedQuery | undefined;
  }
}
