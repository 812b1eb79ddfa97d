import type { FastifyInstance } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import { loadConfig, type ServiceConfig } from './config';
import { buildApp } from './http/app';
import { createMetrics } from './http/metrics';
import { buildMetricsApp } from './http/metrics-app';
import { createLogger } from './logger';
import { createProvider } from './providers/create';
import type { TurnProvider } from './providers/types';
import { publishRelaySecrets } from './relay-secrets';

export interface RunningService {
  app: FastifyInstance;
  provider: TurnProvider;
  config: ServiceConfig;
  logger: Logger;
  /** e.g. `http://127.0.0.1:8080`, or `https://…` with TLS_CERT_FILE/TLS_KEY_FILE */
  url: string;
  /** The Prometheus listener, e.g. `http://127.0.0.1:9464` (serves /metrics only). */
  metricsUrl: string;
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
    // A fleet's relays coming and going (TURN_RELAYS): handed out only while their probe passes.
    onHealthChange: (relay) =>
      (relay.healthy ? logger.info : logger.warn).call(
        logger,
        {
          region: relay.region,
          target: relay.target,
          healthy: relay.healthy,
          detail: relay.detail,
        },
        'relay health',
      ),
  });
  const app = buildApp({
    provider,
    apiTokens: config.apiTokens,
    rateLimitPerMinute: config.rateLimitPerMinute,
    tokenRateLimitPerMinute: config.tokenRateLimitPerMinute,
    logger,
    metrics,
    ...(config.tls ? { https: config.tls } : {}),
  });
  const metricsApp = buildMetricsApp({ metrics, logger });

  for (const line of config.deprecations) logger.warn(line);
  if (config.apiTokens.length === 0) {
    logger.warn(
      'API_TOKENS is not set: the STUN-only endpoint is open to anyone (it hands out no secrets)',
    );
  }
  if (config.providerConfig.provider === 'stun' && config.providerConfig.stunUris.length === 0) {
    logger.warn(
      'STUN_URLS is not set: clients get no ICE servers and can only connect on the same network',
    );
  }

  // Before listening: the relay waits for these files, and a service that cannot write them
  // must say so at once rather than hand out credentials the relay does not accept.
  if (config.relaySecrets) {
    publishRelaySecrets(config.relaySecrets);
    logger.info(
      {
        dir: config.relaySecrets.dir,
        previousSecrets: config.relaySecrets.previousTurnSecrets.length,
        tls: config.relaySecrets.tls !== undefined,
      },
      "relay's secret files written to RELAY_SECRETS_DIR",
    );
  }

  const metricsUrl = await metricsApp.listen({
    host: config.metricsHost,
    port: config.metricsPort,
    listenTextResolver: (address) => `metrics on ${address}/metrics`,
  });
  let url: string;
  try {
    url = await app.listen({
      host: config.host,
      port: config.port,
      listenTextResolver: (address) => `listening on ${address} (provider ${provider.name})`,
    });
  } catch (err) {
    await metricsApp.close();
    throw err;
  }

  return {
    app,
    provider,
    config,
    logger,
    url,
    metricsUrl,
    close: async () => {
      await app.close();
      await metricsApp.close();
      await provider.close();
    },
  };
}
