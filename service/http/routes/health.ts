import type { FastifyInstance } from 'fastify';
import type { TurnProvider } from '../../providers/types';

export const HEALTH_ROUTES = ['/healthz', '/readyz'];

/**
 * GET /healthz (the process answers) and GET /readyz (the provider can hand out working
 * servers; 503 once shutdown has begun).
 */
export function healthRoutes(
  app: FastifyInstance,
  opts: { provider: TurnProvider; isClosing: () => boolean },
): void {
  const { provider } = opts;

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    if (opts.isClosing())
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
}
