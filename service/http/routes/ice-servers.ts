import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { REGION_LABEL } from '../../../contract';
import { InvalidInputError } from '../../providers/errors';
import type { TurnProvider } from '../../providers/types';
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

/**
 * GET /v1/ice-servers?user=<id>[&ttl=<s>][&region=<label>][&relays=all|nearest]: bearer token (when API_TOKENS is set), then the
 * rate limit per token and user, then the provider's ICE servers.
 */
export async function iceServersRoute(
  scope: FastifyInstance,
  opts: {
    provider: TurnProvider;
    metrics: Metrics;
    checkToken: ReturnType<typeof createTokenChecker> | undefined;
    rateLimitPerMinute: number;
  },
): Promise<void> {
  const { provider, metrics, checkToken } = opts;
  await scope.register(rateLimit, {
    global: false,
    // After authentication, so the key is the verified token, never an unchecked header.
    hook: 'preHandler',
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      message: `rate limit of ${context.max} requests per ${context.after} for this token and user exceeded; retry after the Retry-After header`,
    }),
  });

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
      config: {
        rateLimit: {
          max: opts.rateLimitPerMinute,
          timeWindow: 60_000,
          keyGenerator: (request: FastifyRequest) => {
            const user = (request.query as IceServersQuery).user;
            return `${request.tokenIndex}\u0000${typeof user === 'string' ? user : ''}`;
          },
        },
      },
    },
    async (request) => {
      const user = singleQueryValue(request.query, 'user');
      const ttl = parseTtl(singleQueryValue(request.query, 'ttl'));
      const region = parseRegion(singleQueryValue(request.query, 'region'));
      const relays = parseRelays(singleQueryValue(request.query, 'relays'));
      // A missing user is refused by the provider, with the message that names the fix.
      const result = await provider.getIceServers(user ?? '', {
        ...(ttl === undefined ? {} : { ttl }),
        ...(region === undefined ? {} : { region }),
        ...(relays === undefined ? {} : { relays }),
      });
      metrics.credentialIssued(provider.name);
      return result;
    },
  );
}
