import { join } from 'node:path';
import type { Server } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import { RELAY_SECRET_FILES } from '../contract';
import { type RunningAcme, startAcme } from './acme/manager';
import { certificateDates } from './acme/store';
import { loadConfig, type ServiceConfig } from './config';
import type { MaterialReload } from './config/reload';
import { reloadTurnSecret } from './config/turn-secret-reload';
import { WATCH_INTERVAL_MS } from './config/watch';
import { buildApp } from './http/app';
import { listenWithIpv4Fallback } from './http/listen';
import { createMetrics } from './http/metrics';
import { buildMetricsApp } from './http/metrics-app';
import { reloadTls } from './http/tls-reload';
import { createLogger } from './logger';
import { createProvider } from './providers/create';
import { signsWithSecret, type TurnProvider } from './providers/types';
import {
  type RelayCertificateWatch,
  relayTlsTarget,
  watchRelayCertificate,
} from './relay-certificate';
import { publishRelaySecrets, publishRelayTls } from './relay-secrets';
import { createRevocations } from './revocations';

/** Days left below which /readyz (with the token) shows the certificate. */
const EXPIRY_WARNING_DAYS = 7;

/**
 * /readyz's `certificate`: shown when the served one is within a week of expiry or the last
 * ACME order failed (a renewal that keeps failing, long before the certificate runs out).
 */
function certificateDetail(notAfter: Date | undefined, acme: RunningAcme | undefined) {
  if (!notAfter) return undefined;
  const daysLeft = (notAfter.getTime() - Date.now()) / 86_400_000;
  const status = acme?.status();
  if (daysLeft >= EXPIRY_WARNING_DAYS && !status?.lastFailure) return undefined;
  return {
    notAfter: notAfter.toISOString(),
    daysLeft: Math.floor(daysLeft * 10) / 10,
    ...(daysLeft < EXPIRY_WARNING_DAYS
      ? { warning: `the certificate expires in less than ${EXPIRY_WARNING_DAYS} days` }
      : {}),
    ...(status ? { acme: status } : {}),
  };
}

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
    /**
     * Runs once ACME_HTTP_PORT, the one port that may need root, is bound: main.ts drops to the
     * service's user there. Without ACME nothing needs root, and a process started as root
     * (a test, a host install) stays as it was started.
     */
    afterPrivilegedBind?: () => void;
  } = {},
): Promise<RunningService> {
  let config = loadConfig(env);
  const logger = createLogger(config.logLevel, opts.logDestination);
  const metrics = createMetrics();

  // The certificate first: HTTPS and the relay's turns: need it before they listen.
  let acme: RunningAcme | undefined;
  if (config.acme) {
    acme = await startAcme(config.acme, {
      logger,
      metrics,
      ...(opts.afterPrivilegedBind ? { afterBind: opts.afterPrivilegedBind } : {}),
    });
    const { cert, key } = acme.certificate();
    config = {
      ...config,
      tls: { cert, key, certFile: acme.certFile, keyFile: acme.keyFile },
      ...(config.relaySecrets
        ? { relaySecrets: { ...config.relaySecrets, tls: { cert, key } } }
        : {}),
    };
  }
  let servedNotAfter = config.tls ? certificateDates(config.tls.cert).notAfter : undefined;
  if (servedNotAfter) metrics.certificateExpires('service', servedNotAfter);
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
  const revocations = createRevocations(config, logger, metrics);
  // After a restart: the users revoked before it, whose credentials may still be in use.
  revocations.startSweeper();
  const app = buildApp({
    provider,
    apiTokens: config.apiTokens,
    rateLimitPerMinute: config.rateLimitPerMinute,
    tokenRateLimitPerMinute: config.tokenRateLimitPerMinute,
    logger,
    metrics,
    ...(config.tls ? { https: { cert: config.tls.cert, key: config.tls.key } } : {}),
    reloadFailures: () => reloads.flatMap((r) => r.failure() ?? []),
    certificateDetail: () => certificateDetail(servedNotAfter, acme),
    revocations,
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
  // The relay on this host should serve the certificate just written for it.
  const relaySecrets = config.relaySecrets;
  const relayTls = relaySecrets?.tls ? relayTlsTarget(config.providerConfig) : undefined;
  let relayCertificate: RelayCertificateWatch | undefined;
  if (relayTls && relaySecrets?.tls) {
    relayCertificate = watchRelayCertificate({
      target: relayTls,
      certPem: relaySecrets.tls.cert,
      file: join(relaySecrets.dir, RELAY_SECRET_FILES.tlsCert),
      logger,
      metrics,
      onServed: (notAfter) => metrics.certificateExpires('relay', notAfter),
    });
    reloads.push(relayCertificate);
  }
  // A new pair (a renewal in ACME_STATE_DIR, or TLS_CERT_FILE rewritten) is served here and
  // handed on to the relay, whose watcher loads it: neither process restarts.
  const tlsApplied = (pair: { cert: string; key: string }, notAfter: Date) => {
    servedNotAfter = notAfter;
    metrics.certificateExpires('service', notAfter);
    if (!relaySecrets?.tls) return;
    try {
      publishRelayTls(relaySecrets.dir, pair);
      relayCertificate?.expect(pair.cert);
    } catch (err) {
      logger.error(
        { dir: relaySecrets.dir },
        `the relay's new certificate cannot be written: ${(err as Error).message}`,
      );
    }
  };
  // With `https`, Fastify's server is a tls.Server; the instance is typed as the plain one.
  if (config.tls)
    reloads.push(
      reloadTls(
        app.server as unknown as Server,
        { ...config.tls, from: acme ? 'ACME_STATE_DIR' : 'TLS_CERT_FILE' },
        reload,
        tlsApplied,
      ),
    );
  if (config.turnSecretFile && signsWithSecret(provider))
    reloads.push(reloadTurnSecret(provider, config.turnSecretFile, reload));
  const stopReloads = () => {
    for (const r of reloads) r.stop();
    void acme?.stop();
  };

  let metricsUrl: string;
  let url: string;
  try {
    metricsUrl = await metricsApp.listen({
      host: config.metricsHost,
      port: config.metricsPort,
      listenTextResolver: (address) => `metrics on ${address}/metrics`,
    });
    url = await listenWithIpv4Fallback(
      (host) =>
        app.listen({
          host,
          port: config.port,
          listenTextResolver: (address) => `listening on ${address} (provider ${provider.name})`,
        }),
      config.host,
      logger,
    );
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
      await revocations.close();
      await metricsApp.close();
      await provider.close();
    },
  };
}
