import type { FastifyInstance } from 'fastify';
import type { ReloadFailure } from '../../config/reload';
import type { ReadyState, TurnProvider } from '../../providers/types';
import type { createTokenChecker } from '../auth';

export const HEALTH_ROUTES = ['/healthz', '/readyz'];

const SHUTTING_DOWN: ReadyState = { ready: false, cause: 'shutting_down', detail: 'shutting down' };

/**
 * GET /healthz (the process answers) and GET /readyz (the provider can hand out working
 * servers; 503 once shutdown has begun).
 *
 * /readyz is on the public API port, where a load balancer asks without a token: it gets the
 * status code, `status` and the short `cause`. The detail (probe targets, every fleet relay and
 * its health, Metered's words) needs the API token, checked as GET /v1/ice-servers checks it;
 * a missing or wrong token is not a 401 here, only the short answer, so a balancer configured
 * without one still sees 200/503. Without API_TOKENS (STUN-only) there is nothing to check,
 * and the detail is no more than the open endpoint hands out.
 *
 * A changed certificate or TURN secret that was kept out (config/reload.ts) leaves the service
 * working with the old one: still ready, so the short form does not change, while the detail's
 * `reload` names the file and why, until a later reload succeeds. Likewise `certificate`
 * while the served certificate is within a week of expiry or its last ACME order failed.
 */
export function healthRoutes(
  app: FastifyInstance,
  opts: {
    provider: TurnProvider;
    isClosing: () => boolean;
    checkToken: ReturnType<typeof createTokenChecker> | undefined;
    reloadFailures?: () => ReloadFailure[];
    certificateDetail?: () => object | undefined;
  },
): void {
  const { provider, checkToken } = opts;

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (request, reply) => {
    const state = opts.isClosing() ? SHUTTING_DOWN : await provider.checkReady();
    const status = state.ready ? 'ready' : 'not_ready';
    const trusted =
      !checkToken ||
      checkToken(request.headers.authorization, request.query as Record<string, unknown>).ok;
    if (!trusted) return reply.code(state.ready ? 200 : 503).send({ status, cause: state.cause });
    const reload = opts.reloadFailures?.() ?? [];
    const certificate = opts.certificateDetail?.();
    return reply.code(state.ready ? 200 : 503).send({
      status,
      cause: state.cause,
      provider: provider.name,
      detail: state.detail,
      ...(reload.length > 0 ? { reload } : {}),
      ...(certificate ? { certificate } : {}),
    });
  });
}
