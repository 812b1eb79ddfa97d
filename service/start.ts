import type { FastifyInstance } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import { loadConfig, type ServiceConfig } from './config';
import { buildApp } from './http/app';
import { createMetrics } from './http/metrics';
import { createLogger } from './logger';
import { createProvider } from './providers/from-config';
import type { TurnProvider } from './providers/types';

export interface RunningService {
  app: FastifyInstance;
  provider: TurnProvider;
  config: ServiceConfig;
  logger: Logger;
  /** e.g. `http://127.0.0.1:8080` */
  url: string;
  /** Stops accepting connections, lets in-flight requests finish, releases the provider. */
  close(): Promise<void>;
}

/** Loads the config from `env` (throws ConfigError), then listens. */
export async function startService(
  env: Record<string, string | undefined>,
  opts: { logDestination?: DestinationStream } = {},
): Promise<RunningService> {
  const config = loadConfig(env);
  const logger = createLogger(config.logLevel, opts.logDestination);
  const metrics = createMetrics();
  const provider = createProvider(config.providerConfig, {
    onUpstreamCall: (operation, seconds, outcome) =>
      metrics.observeUpstream(operation, seconds, outcome),
  });
  const app = buildApp({
    provider,
    apiTokens: config.apiTokens,
    rateLimitPerMinute: config.rateLimitPerMinute,
    logger,
    metrics,
  });

  if (config.apiTokens.length === 0) {
    logger.warn(
      'API_TOKENS is not set: the STUN-only endpoint is open to anyone (it hands out no secrets)',
    );
  }
  if (config.providerConfig.provider === 'stun' && config.providerConfig.stunUrls.length === 0) {
    logger.warn(
      'STUN_URLS is not set: clients get no ICE servers and can only connect on the same network',
    );
  }

  const url = await app.listen({
    host: config.host,
    port: config.port,
    listenTextResolver: (address) => `listening on ${address} (provider ${provider.name})`,
  });

  return {
    app,
    provider,
    config,
    logger,
    url,
    close: async () => {
      await app.close();
      await provider.close();
    },
  };
}
