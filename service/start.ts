import { join } from 'node:path';
import type { Server } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import { RELAY_SECRET_FILES } from '../contract';
import { loadConfig, type ServiceConfig } from './config';
import type { MaterialReload } from './config/reload';
import { reloadTurnSecret } from './config/turn-secret-reload';
import { WATCH_INTERVAL_MS } from './config/watch';
import { buildApp } from './http/app';
import { createMetrics } from './http/metrics';
import { buildMetricsApp } from './http/metrics-app';
import { reloadTls } from './http/tls-reload';
import { createLogger } from './logger';
import { createProvider } from './providers/create';
import { signsWithSecret, type TurnProvider } from './providers/types';
import { relayTlsTarget, watchRelayCertificate } from './relay-certificate';
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

/**
 * Loads the config from `env` (throws ConfigError), then listens. The certificate's and the
 * TURN secret's files are polled every `reloadIntervalMs` (WATCH_INTERVAL_MS; shorter in tests)
 * and a changed version is served without a restart (config/reload.ts). A fleet probes each
 * relay every `relayProbeIntervalMs` (5 s; shorter in tests).
 */
export async function startService(
  env: Record<string, string | undefined>,
  opts: {
    logDestination?: DestinationStream;
    reloadIntervalMs?: number;
    relayProbeIntervalMs?: number;
  } = {},
): Promise<RunningService> {
  const config = loadConfig(env);
  const logger = createLogger(config.logLevel, opts.logDestination);
  const metrics = createMetrics();
  const provider = createProvider(config.providerConfig, {
    ...(opts.relayProbeIntervalMs ? { probeIntervalMs: opts.relayProbeIntervalMs } : {}),
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
          draining: relay.draining,
          detail: relay.detail,
        },
        'relay health',
      ),
  });
  const reloads: MaterialReload[] = [];
  const app = buildApp({
    provider,
    apiTokens: config.apiTokens,
    rateLimitPerMinute: config.rateLimitPerMinute,
    tokenRateLimitPerMinute: config.tokenRateLimitPerMinute,
    logger,
    metrics,
    ...(config.tls ? { https: { cert: config.tls.cert, key: config.tls.key } } : {}),
    reloadFailures: () => reloads.flatMap((r) => r.failure() ?? []),
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

  // Watched from here, before listening: a file changed while start-up went on is not missed.
  const reload = { logger, metrics, intervalMs: opts.reloadIntervalMs ?? WATCH_INTERVAL_MS };
  // With `https`, Fastify's server is a tls.Server; the instance is typed as the plain one.
  if (config.tls) reloads.push(reloadTls(app.server as unknown as Server, config.tls, reload));
  if (config.turnSecretFile && signsWithSecret(provider))
    reloads.push(reloadTurnSecret(provider, config.turnSecretFile, reload));
  // The relay on this host should serve the certificate just written for it.
  const relayTls = config.relaySecrets?.tls ? relayTlsTarget(config.providerConfig) : undefined;
  if (relayTls && config.relaySecrets?.tls)
    reloads.push(
      watchRelayCertificate({
        target: relayTls,
        certPem: config.relaySecrets.tls.cert,
        file: join(config.relaySecrets.dir, RELAY_SECRET_FILES.tlsCert),
        logger,
        metrics,
      }),
    );
  const stopReloads = () => {
    for (const r of reloads) r.stop();
  };

  let metricsUrl: string;
  let url: string;
  try {
    metricsUrl = await metricsApp.listen({
      host: config.metricsHost,
      port: config.metricsPort,
      listenTextResolver: (address) => `metrics on ${address}/metrics`,
    });
    url = await app.listen({
      host: config.host,
      port: config.port,
      listenTextResolver: (address) => `listening on ${address} (provider ${provider.name})`,
    });
  } catch (err) {
    stopReloads();
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
      stopReloads();
      await app.close();
      await metricsApp.close();
      await provider.close();
    },
  };
}
