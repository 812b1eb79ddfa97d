import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isValidUserId } from '../../../contract';
import { FORWARDED, MAX_REVOCATION_SECONDS, type Revocations } from '../../revocations/revocations';
import type { createTokenChecker } from '../auth';
import { sendError } from '../errors';

export const REVOCATIONS = '/v1/revocations';

const USER_RULE =
  'user must be 1-128 of A-Z a-z 0-9 . _ ~ @ + -, the id the app asks ice-servers for';

/**
 * POST /v1/revocations {"user","seconds"}, GET /v1/revocations, DELETE /v1/revocations/<user>:
 * bearer token always (a revocation ends calls). A call another host forwarded (FORWARDED
 * header) is applied here only.
 */
export function revocationRoutes(
  app: FastifyInstance,
  opts: {
    revocations: Revocations;
    checkToken: ReturnType<typeof createTokenChecker> | undefined;
  },
): void {
  const { revocations, checkToken } = opts;
  const authorized = (request: FastifyRequest, reply: FastifyReply): boolean => {
    if (!checkToken) {
      sendError(
        reply,
        403,
        'revocations need API_TOKENS: set one so that only your backend can end calls',
      );
      return false;
    }
    const result = checkToken(
      request.headers.authorization,
      request.query as Record<string, unknown>,
    );
    if (!result.ok) {
      reply.header('www-authenticate', 'Bearer');
      sendError(reply, 401, result.message);
      return false;
    }
    return true;
  };
  const forwarded = (request: FastifyRequest) => request.headers[FORWARDED] === '1';

  app.post(REVOCATIONS, async (request, reply) => {
    if (!authorized(request, reply)) return reply;
    const body = request.body as { user?: unknown; seconds?: unknown } | undefined;
    if (typeof body !== 'object' || body === null)
      return sendError(reply, 400, 'send a JSON body: {"user":"<id>","seconds":<n>}');
    if (typeof body.user !== 'string' || !isValidUserId(body.user))
      return sendError(reply, 400, USER_RULE);
    const seconds = body.seconds;
    if (
      typeof seconds !== 'number' ||
      !Number.isInteger(seconds) ||
      seconds < 1 ||
      seconds > MAX_REVOCATION_SECONDS
    )
      return sendError(
        reply,
        400,
        `seconds must be a whole number from 1 to ${MAX_REVOCATION_SECONDS} (30 days); lift one early with DELETE ${REVOCATIONS}/<user>`,
      );
    return revocations.revoke(body.user, seconds, forwarded(request));
  });

  app.get(REVOCATIONS, async (request, reply) => {
    if (!authorized(request, reply)) return reply;
    return {
      revocations: revocations
        .list()
        .map((r) => ({ user: r.user, until: new Date(r.until).toISOString() })),
    };
  });

  app.delete<{ Params: { user: string } }>(`${REVOCATIONS}/:user`, async (request, reply) => {
    if (!authorized(request, reply)) return reply;
    const { user } = request.params;
    if (!isValidUserId(user)) return sendError(reply, 400, USER_RULE);
    return revocations.lift(user, forwarded(request));
  });
}
