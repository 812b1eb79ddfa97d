import { hostInUri, iceUri, isUnspecified, SECRETS_DIR } from '../../contract';
import type { StackConfig } from '../stack/read';
import type { SecretFilePlan, SecretName } from './types';

/** What the relay's and the service's container plans share: addresses, URIs, timings. */

/** Bounded logs: a chatty relay must not fill the host's disk. */
export const LOG_OPTIONS = { 'max-size': '10m', 'max-file': '3' };
export const HEALTH_TIMING = { interval: '10s', timeout: '3s', startPeriod: '10s', retries: 3 };
/** The service drains in-flight requests for at most 10 s on SIGTERM (service/main.ts). */
export const STOP_GRACE_SECONDS = 15;
/**
 * turnkey:drainSeconds unset. On a single host new calls get no relay while it drains, so
 * the drain is as short as the service's stop: calls about to end or to move finish cleanly,
 * new ones wait no longer than before. In a fleet the other hosts take new calls at once, so
 * calls in progress get ten minutes to end (most meetings are near their end by then), while
 * pulumi up, which replaces one host at a time, waits at most that long per host.
 */
export const DRAIN_SECONDS = { singleHost: 15, fleet: 600 };

/** Where a process on the same host reaches the listeners: loopback, unless bound elsewhere. */
export const probeHost = (config: StackConfig) => config.listeningIps[0] ?? '127.0.0.1';

/**
 * Where the credential service listens. With TLS, where Coturn does (all interfaces unless
 * turnkey:listeningIps); without, only loopback, unless turnkey:serviceHost names another
 * (private) address: never plain HTTP on a public address by default. All interfaces is `::`,
 * which Node opens for both families, so a client with IPv6 alone reaches the API on a
 * dual-stack host; where the kernel has IPv6 off the service falls back to 0.0.0.0
 * (service/http/listen.ts).
 */
export function serviceBindHost(config: StackConfig): string {
  if (config.serviceHost) return config.serviceHost;
  return config.tls ? (config.listeningIps[0] ?? '::') : '127.0.0.1';
}

/**
 * The endpoint apps call: https on the public host (the certificate's name) with TLS; else
 * plain http at the address the service is bound to, reachable from that host or network.
 */
export function iceServersUrl(config: StackConfig): string {
  const bound = serviceBindHost(config);
  const host = config.tls || isUnspecified(bound) ? config.publicHost : bound;
  const scheme = config.tls ? 'https' : 'http';
  return `${scheme}://${hostInUri(host)}:${config.servicePort}/v1/ice-servers`;
}

export function secretFile(secret: SecretName, fileName: string): SecretFilePlan {
  return { path: `${SECRETS_DIR}/${fileName}`, secret, mode: '0444' };
}

export function turnUris(config: StackConfig): string[] {
  if (config.provider !== 'coturn') return [];
  const host = config.publicHost;
  const uris = [
    iceUri('turn', host, config.turnPort, 'udp'),
    iceUri('turn', host, config.turnPort, 'tcp'),
  ];
  if (config.tls) uris.push(iceUri('turns', host, config.tlsPort, 'tcp'));
  return uris;
}

export function stunUris(config: StackConfig): string[] {
  if (config.provider === 'coturn') return [iceUri('stun', config.publicHost, config.turnPort)];
  return config.provider === 'stun' ? [...config.stunUrls] : [];
}

export const relayBindsPrivilegedPort = (config: StackConfig) =>
  config.turnPort < 1024 || (config.tls && config.tlsPort < 1024);
