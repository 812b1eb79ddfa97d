import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import type { Logger } from 'pino';
import { parseIceUri } from '../contract';
import type { MaterialReload, ReloadFailure, ReloadMetrics } from './config/reload';
import type { ProviderConfig } from './providers/create';

/**
 * Whether the relay on this host serves the certificate this service wrote for it
 * (RELAY_SECRETS_DIR). The relay's watcher applies a new one within seconds, and a pair it
 * cannot load it only logs, keeping the old one: from the service's side that would be a stale
 * certificate nobody sees until it expires. So the service looks at what a new turns:
 * handshake presents, and while that is another certificate than the one written, longer than
 * the watcher needs, /readyz (with the token) names it under `reload`.
 */

/** Where this host's relay answers turns:, and the name clients ask it for. */
export interface RelayTlsTarget {
  host: string;
  port: number;
  servername: string;
}

/** The relay's turns: endpoint, reached where the service probes it: its own host's relay. */
export function relayTlsTarget(config: ProviderConfig): RelayTlsTarget | undefined {
  if (config.provider !== 'coturn') return undefined;
  const own = config.fleet?.relays[0];
  const urls = own ? own.urls : config.turnUris;
  const turns = urls.map((u) => parseIceUri(u)).find((u) => u.scheme === 'turns');
  if (!turns) return undefined;
  const probe = own?.probeUrl ?? config.probeUrl;
  const host = probe ? parseIceUri(probe).host : turns.host;
  return { host, port: turns.port, servername: turns.host };
}

/** The certificate a new handshake presents, or undefined when none completes. */
function presented(
  target: RelayTlsTarget,
  timeoutMs: number,
): Promise<X509Certificate | undefined> {
  return new Promise((resolve) => {
    const socket = connect({
      host: target.host,
      port: target.port,
      servername: target.servername,
      // Only which certificate is served matters here, not whether this host trusts it.
      rejectUnauthorized: false,
    });
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.once('secureConnect', () => {
      resolve(socket.getPeerX509Certificate());
      socket.destroy();
    });
    socket.once('error', () => resolve(undefined));
    socket.once('close', () => resolve(undefined));
  });
}

export interface RelayCertificateOptions {
  target: RelayTlsTarget;
  /** The certificate chain written to RELAY_SECRETS_DIR (its first certificate is served). */
  certPem: string;
  /** Its path there, named in the report. */
  file: string;
  logger: Logger;
  metrics: ReloadMetrics;
  /** Each time the relay is seen serving the expected certificate: its expiry (a metric). */
  onServed?: (notAfter: Date) => void;
  /** Time between two looks (default 10 s). */
  intervalMs?: number;
  /** How long the relay may take to apply a new certificate (default 15 s: it checks every 2 s). */
  graceMs?: number;
  now?: () => Date;
}

/** The watch, told of each new certificate written for the relay (a renewal). */
export type RelayCertificateWatch = MaterialReload & { expect(certPem: string): void };

export function watchRelayCertificate(opts: RelayCertificateOptions): RelayCertificateWatch {
  const now = opts.now ?? (() => new Date());
  let written = now();
  let expected = new X509Certificate(opts.certPem).fingerprint256;
  let failure: ReloadFailure | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  opts.metrics.materialLoaded('relay_tls', written);

  const look = async () => {
    const served = await presented(opts.target, 3_000);
    // Not answering is readiness's business (the relay is down), not a stale certificate.
    if (served === undefined || stopped) return;
    const seen = served.fingerprint256;
    if (seen === expected) {
      opts.onServed?.(new Date(served.validTo));
      if (failure) {
        opts.logger.info('the relay serves the certificate written for it again');
        opts.metrics.reloaded('relay_tls', 'applied');
      }
      failure = undefined;
      return;
    }
    if (now().getTime() - written.getTime() < (opts.graceMs ?? 15_000) || failure) return;
    failure = {
      material: 'relay_tls',
      variable: 'TURN_TLS_CERT_FILE',
      file: opts.file,
      error: `the relay presents another certificate (SHA-256 ${seen}) than the one written for it (${expected}): its watcher did not load it; the relay's log names the file and why`,
      failedAt: now().toISOString(),
      loadedAt: written.toISOString(),
    };
    opts.metrics.reloaded('relay_tls', 'failed');
    opts.logger.error(
      { relay: `${opts.target.host}:${opts.target.port}`, file: opts.file },
      failure.error,
    );
  };
  const loop = () => {
    timer = setTimeout(() => {
      look().finally(() => {
        if (!stopped) loop();
      });
    }, opts.intervalMs ?? 10_000);
    timer.unref();
  };
  loop();
  return {
    failure: () => failure,
    expect: (certPem) => {
      const next = new X509Certificate(certPem).fingerprint256;
      if (next === expected) return;
      // The relay's watcher gets a new grace to apply it; a failure about the old one is moot.
      expected = next;
      written = now();
      failure = undefined;
      opts.metrics.materialLoaded('relay_tls', written);
    },
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
