import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { sendError } from './errors';
import type { Metrics } from './metrics';

/**
 * The Prometheus listener (METRICS_HOST:METRICS_PORT, loopback by default): GET /metrics and
 * nothing else. Separate from the API so that the API's address, public with TLS, never shows
 * request counts and process details, and a scraper needs no API token.
 */
export function buildMetricsApp(opts: {
  metrics: Metrics;
  logger: FastifyBaseLogger;
}): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.logger,
    // Scrapes every few seconds would drown the access log.
    logController: new LogController({ disableRequestLogging: true }),
    requestTimeout: 10_000,
    forceCloseConnections: true,
  });
  app.get('/metrics', async (_request, reply) => {
    reply.type(opts.metrics.registry.contentType);
    return opts.metrics.registry.metrics();
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, `no route for ${request.method} here; this listener serves GET /metrics`),
  );
  return app;
}
