import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Material } from '../config/reload';

/** One registry per app instance, so tests and benchmarks can run several side by side. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'turnkey_' });
  const requests = new Counter({
    name: 'turnkey_http_requests_total',
    help: 'HTTP requests by route template, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'turnkey_http_request_duration_seconds',
    help: 'HTTP request duration by route template',
    labelNames: ['route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  const credentials = new Counter({
    name: 'turnkey_credentials_issued_total',
    help: 'ICE server sets handed out, by provider',
    labelNames: ['provider'] as const,
    registers: [registry],
  });
  const upstreamDuration = new Histogram({
    name: 'turnkey_upstream_request_duration_seconds',
    help: 'Calls to the TURN provider upstream (e.g. Metered API), by operation and outcome',
    labelNames: ['operation', 'outcome'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const upstreamErrors = new Counter({
    name: 'turnkey_upstream_errors_total',
    help: 'Failed calls to the TURN provider upstream, by operation and reason',
    labelNames: ['operation', 'reason'] as const,
    registers: [registry],
  });
  const reloads = new Counter({
    name: 'turnkey_reloads_total',
    help: 'Changed files of the TLS certificate or the TURN secret, applied or kept out (failed)',
    labelNames: ['material', 'outcome'] as const,
    registers: [registry],
  });
  const loadedAt = new Gauge({
    name: 'turnkey_material_loaded_timestamp_seconds',
    help: "When the TLS certificate or TURN secret in use was loaded (start-up or last reload); relay_tls: when the relay's certificate was written",
    labelNames: ['material'] as const,
    registers: [registry],
  });
  const failing = new Gauge({
    name: 'turnkey_material_reload_failing',
    help: '1 while the last reload of the TLS certificate or TURN secret failed (the old one is in use); relay_tls: while the relay serves another certificate than the one written for it',
    labelNames: ['material'] as const,
    registers: [registry],
  });
  const certificateExpiry = new Gauge({
    name: 'turnkey_certificate_expiry_timestamp_seconds',
    help: "When the certificate served expires: endpoint service (the API's HTTPS), relay (what this host's relay presents on turns:)",
    labelNames: ['endpoint'] as const,
    registers: [registry],
  });
  const acmeOrders = new Counter({
    name: 'turnkey_acme_renewals_total',
    help: 'Certificate orders to the ACME CA (the first one and every renewal), by outcome: issued or failed',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });

  const revocationsActive = new Gauge({
    name: 'turnkey_revocations_active',
    help: 'Users revoked on this host right now (POST /v1/revocations)',
    registers: [registry],
  });
  const sessionsEnded = new Counter({
    name: 'turnkey_revoked_sessions_ended_total',
    help: 'Relayed sessions of revoked users this host ended on its relay',
    registers: [registry],
  });

  return {
    registry,
    revocationsActive(count: number) {
      revocationsActive.set(count);
      sessionsEnded.inc(0);
    },
    sessionsEnded(count: number) {
      sessionsEnded.inc(count);
    },
    certificateExpires(endpoint: 'service' | 'relay', notAfter: Date) {
      certificateExpiry.set({ endpoint }, notAfter.getTime() / 1000);
    },
    acmeOrder(outcome: 'issued' | 'failed') {
      // Both from the first order, as with reloads: increase() needs the series before.
      acmeOrders.inc({ outcome: 'issued' }, 0);
      acmeOrders.inc({ outcome: 'failed' }, 0);
      acmeOrders.inc({ outcome });
    },
    observeRequest(route: string, method: string, status: number, seconds: number) {
      requests.inc({ route, method, status: String(status) });
      duration.observe({ route }, seconds);
    },
    credentialIssued(provider: string) {
      credentials.inc({ provider });
    },
    observeUpstream(operation: string, seconds: number, outcome: string) {
      upstreamDuration.observe({ operation, outcome: outcome === 'ok' ? 'ok' : 'error' }, seconds);
      if (outcome !== 'ok') upstreamErrors.inc({ operation, reason: outcome });
    },
    materialLoaded(material: Material, at: Date) {
      // Both outcomes from the start: an alert on increase() needs the series before the first.
      reloads.inc({ material, outcome: 'applied' }, 0);
      reloads.inc({ material, outcome: 'failed' }, 0);
      loadedAt.set({ material }, at.getTime() / 1000);
      failing.set({ material }, 0);
    },
    reloaded(material: Material, outcome: 'applied' | 'failed') {
      reloads.inc({ material, outcome });
      failing.set({ material }, outcome === 'failed' ? 1 : 0);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
