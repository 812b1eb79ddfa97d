import type { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect } from 'node:tls';
import { hostPort, parseIceUri } from '../../contract';
import type { Diagnosis } from '../turn/diagnosis';

/**
 * The certificates `turnkey check` meets: the API's (an https --url) and each turns: (and
 * stuns:) listener's, with the time they have left. Renewal is automatic (ACME), so one near
 * its end means renewal stopped working, which no client notices until the day it expires.
 */

/** A TLS listener the check contacts. */
export interface TlsEndpoint {
  /** How the report names it: `https://host:port` or `turns:host:port`. */
  endpoint: string;
  host: string;
  port: number;
}

export type CertificateStatus = 'current' | 'expiring' | 'expired' | 'not-yet-valid' | 'unseen';

export interface CertificateResult extends TlsEndpoint {
  status: CertificateStatus;
  validFrom?: string;
  validTo?: string;
  /** Seconds from the check to validTo; negative once expired. */
  expiresInS?: number;
  /** Seconds until validFrom, for a certificate not yet valid. */
  validInS?: number;
  fingerprint256?: string;
  /** Why no certificate was seen: no handshake completed (the URI's own result says more). */
  error?: string;
  /** Expired or not yet valid: a failure of the check. */
  diagnosis?: Diagnosis;
}

const DAY_S = 86_400;
/** Renewal starts with a third of the lifetime left (30 days of Let's Encrypt's 90): a week is long overdue. */
export const OVERDUE_BELOW_S = 7 * DAY_S;
export const EXPIRY_METRIC = 'turnkey_certificate_expiry_timestamp_seconds';

/** The API (when https) and every turns:/stuns: URI's listener, each host:port once. */
export function tlsEndpoints(apiUrl: string, uris: string[]): TlsEndpoint[] {
  const found = new Map<string, TlsEndpoint>();
  const api = new URL(apiUrl);
  if (api.protocol === 'https:') {
    const host = api.hostname.replace(/^\[|\]$/g, '');
    const port = Number(api.port || 443);
    found.set(hostPort(host, port), { endpoint: `https://${hostPort(host, port)}`, host, port });
  }
  for (const uri of uris) {
    let parsed: ReturnType<typeof parseIceUri>;
    try {
      parsed = parseIceUri(uri);
    } catch {
      continue; // the URI's own result reports it
    }
    if (!parsed.scheme.endsWith('s')) continue;
    const key = hostPort(parsed.host, parsed.port);
    if (!found.has(key)) {
      found.set(key, { endpoint: `${parsed.scheme}:${key}`, host: parsed.host, port: parsed.port });
    }
  }
  return [...found.values()];
}

/**
 * The leaf certificate one handshake presents. Verification is off on purpose: an expired
 * or untrusted certificate is exactly the one to read; whether it is trusted is what the
 * fetch and the TURN check themselves find out.
 */
export function presentedCertificate(
  target: TlsEndpoint,
  timeoutMs: number,
): Promise<{ certificate: X509Certificate } | { error: string }> {
  return new Promise((resolve) => {
    const socket = connect({
      host: target.host,
      port: target.port,
      // An IP as SNI is not allowed (RFC 6066 §3); a relay picks its certificate by name.
      ...(isIP(target.host) ? {} : { servername: target.host }),
      rejectUnauthorized: false,
    });
    const done = (result: { certificate: X509Certificate } | { error: string }) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => done({ error: `no TLS handshake within ${timeoutMs} ms` }),
      timeoutMs,
    );
    socket.once('secureConnect', () => {
      const certificate = socket.getPeerX509Certificate();
      done(certificate ? { certificate } : { error: 'the server presented no certificate' });
    });
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done({ error: `${err.message}${err.code ? ` (${err.code})` : ''}` }),
    );
  });
}

/** `3 days`, `5 h`, `12 min`: precise enough to see at a glance how urgent it is. */
export function span(seconds: number): string {
  const s = Math.abs(seconds);
  if (s >= DAY_S) {
    const days = Math.floor(s / DAY_S);
    return `${days} ${days === 1 ? 'day' : 'days'}`;
  }
  if (s >= 3600) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 60)} min`;
}

/** Where to look when renewal stalled: the service renews, and reports its certificates. */
const whereToLook = (readyzUrl: string) =>
  `look at the service's log for the renewal's error, GET ${readyzUrl} (with the token) and the ${EXPIRY_METRIC} metric`;

/** The certificate judged at `nowMs`; out of its validity period is a failure. */
export function judge(
  target: TlsEndpoint,
  certificate: X509Certificate,
  nowMs: number,
  readyzUrl: string,
): CertificateResult {
  const from = new Date(certificate.validFrom);
  const to = new Date(certificate.validTo);
  const expiresInS = Math.floor((to.getTime() - nowMs) / 1000);
  const result: CertificateResult = {
    ...target,
    status: 'current',
    validFrom: from.toISOString(),
    validTo: to.toISOString(),
    expiresInS,
    fingerprint256: certificate.fingerprint256,
  };
  if (from.getTime() > nowMs) {
    result.status = 'not-yet-valid';
    result.validInS = Math.floor((from.getTime() - nowMs) / 1000);
    result.diagnosis = {
      problem: `certificate ${target.endpoint} is not valid before ${result.validFrom} (in ${span(result.validInS)})`,
      cause:
        "this machine's clock or the server host's is off, or the certificate was issued to start later",
      fix: `sync both clocks (NTP), then check the dates the server presents: openssl s_client -connect ${hostPort(target.host, target.port)}${isIP(target.host) ? '' : ` -servername ${target.host}`} | openssl x509 -noout -dates`,
    };
  } else if (expiresInS <= 0) {
    result.status = 'expired';
    result.diagnosis = {
      problem: `certificate ${target.endpoint} expired ${result.validTo} (${span(expiresInS)} ago)`,
      cause:
        'nothing replaced it in time: automatic renewal (ACME) failed, the renewed certificate was not loaded, or one set by hand (turnkey:tlsCert) ran out',
      fix: `${whereToLook(readyzUrl)}; a certificate set by hand needs a new turnkey:tlsCert and pulumi up`,
    };
  } else if (expiresInS < OVERDUE_BELOW_S) {
    result.status = 'expiring';
  }
  return result;
}

/** Each endpoint's certificate as presented now, judged at `now()` after the handshake. */
export async function lookAtCertificates(
  targets: TlsEndpoint[],
  opts: { timeoutMs: number; now: () => number; readyzUrl: string },
): Promise<CertificateResult[]> {
  return Promise.all(
    targets.map(async (target): Promise<CertificateResult> => {
      const seen = await presentedCertificate(target, opts.timeoutMs);
      if ('error' in seen) return { ...target, status: 'unseen', error: seen.error };
      return judge(target, seen.certificate, opts.now(), opts.readyzUrl);
    }),
  );
}

/**
 * Renewal overdue, and one host serving different certificates on different endpoints: the
 * service renews and writes the relay's certificate, so two of them means one side did not
 * take the renewal (/readyz names a relay still serving an old one).
 */
export function certificateWarnings(results: CertificateResult[], readyzUrl: string): string[] {
  const warnings: string[] = [];
  for (const r of results) {
    if (r.status !== 'expiring' || r.expiresInS === undefined) continue;
    warnings.push(
      `certificate ${r.endpoint} expires ${r.validTo} (in ${span(r.expiresInS)}): renewal is overdue (it starts with a third of the lifetime left); ${whereToLook(readyzUrl)}`,
    );
  }
  const byHost = new Map<string, CertificateResult[]>();
  for (const r of results) {
    if (!r.fingerprint256) continue;
    byHost.set(r.host, [...(byHost.get(r.host) ?? []), r]);
  }
  for (const [host, same] of byHost) {
    if (new Set(same.map((r) => r.fingerprint256)).size < 2) continue;
    const each = same
      .map((r) => `${r.endpoint} ${(r.expiresInS ?? 0) <= 0 ? 'expired' : 'expires'} ${r.validTo}`)
      .join(', ');
    warnings.push(
      `${host} serves different certificates: ${each}; one endpoint did not take the last renewal: ${whereToLook(readyzUrl)}`,
    );
  }
  return warnings;
}
