import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type { AcmeSettings } from '../config/acme';
import { type ChallengeResponder, listenForChallenges } from './challenges';
import { orderCertificate } from './order';
import { AcmeFailure, type AcmeFailureKind } from './problems';
import { AcmeStore, certificateDates, type StoredCertificate } from './store';

/**
 * The certificate's life: the one in ACME_STATE_DIR if it is still this deployment's, else a
 * new order before the service listens; then a renewal when a third of its lifetime is left
 * (Let's Encrypt's advice: 30 of 90 days), retried with a doubling backoff that waits out any
 * Retry-After the CA gives. A renewal writes the new pair into ACME_STATE_DIR, where the HTTPS
 * listener's watcher and, through it, the relay's files pick it up (start.ts): nothing restarts.
 */

/** First retry after a failed order, doubling to MAX: 5 failed validations an hour is Let's Encrypt's limit. */
export const RETRY = { minMs: 60_000, maxMs: 6 * 3600_000 };
/** setTimeout's longest wait is ~24.8 days; longer waits are taken a day at a time. */
const MAX_TIMER_MS = 24 * 3600_000;

export interface AcmeMetrics {
  acmeOrder(outcome: 'issued' | 'failed'): void;
}

export interface AcmeStatus {
  domains: string[];
  notBefore?: string;
  notAfter?: string;
  /** When the next order is due (renewal, or the retry after a failure). */
  nextAttemptAt?: string;
  lastFailure?: { at: string; kind: AcmeFailureKind; error: string };
}

export interface RunningAcme {
  /** The certificate in use now (the first one before startAcme resolves). */
  certificate(): StoredCertificate;
  /** ACME_STATE_DIR's certificate and key: what the HTTPS listener serves and watches. */
  certFile: string;
  keyFile: string;
  status(): AcmeStatus;
  stop(): Promise<void>;
}

export interface AcmeOptions {
  logger: Logger;
  metrics: AcmeMetrics;
  /** Runs once the challenge port is bound (main.ts drops root there). */
  afterBind?: () => void;
  retry?: { minMs: number; maxMs: number };
  /** Ends the wait for the first certificate (start-up gives up, the port is released). */
  signal?: AbortSignal;
  now?: () => Date;
}

/** When to renew: a third of the lifetime before the end. */
export function renewalDue(c: { notBefore: Date; notAfter: Date }): Date {
  const life = c.notAfter.getTime() - c.notBefore.getTime();
  return new Date(c.notAfter.getTime() - life / 3);
}

/** Whether a stored certificate is one to serve: this CA's, these names, a matching key, unexpired. */
function usable(c: StoredCertificate | undefined, settings: AcmeSettings, now: Date): boolean {
  if (!c || c.directoryUrl !== settings.directoryUrl) return false;
  const names = (list: string[]) => [...list].sort().join(',');
  if (names(c.domains) !== names(settings.domains)) return false;
  try {
    const x = new X509Certificate(c.cert);
    return x.checkPrivateKey(createPrivateKey(c.key)) && new Date(x.validTo) > now;
  } catch {
    return false;
  }
}

export async function startAcme(settings: AcmeSettings, opts: AcmeOptions): Promise<RunningAcme> {
  const now = opts.now ?? (() => new Date());
  const retry = opts.retry ?? RETRY;
  const { logger, metrics } = opts;
  const store = new AcmeStore(settings.stateDir);
  const challenges: ChallengeResponder = await listenForChallenges(settings.httpPort);
  opts.afterBind?.();

  let current = store.certificate();
  let failures = 0;
  let lastFailure: AcmeStatus['lastFailure'];
  let nextAttemptAt: Date | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let wake: (() => void) | undefined;
  opts.signal?.addEventListener('abort', () => {
    stopped = true;
    clearTimeout(timer);
    wake?.();
  });

  /** One order; its outcome counted, logged and kept for /readyz. */
  const attempt = async (): Promise<boolean> => {
    try {
      const { certificate } = await orderCertificate(settings, store.account(), challenges, (a) =>
        store.saveAccount(a),
      );
      store.saveCertificate(certificate);
      current = certificate;
      failures = 0;
      lastFailure = undefined;
      metrics.acmeOrder('issued');
      const { notAfter } = certificateDates(certificate.cert);
      logger.info(
        { domains: settings.domains, notAfter: notAfter.toISOString() },
        `ACME: certificate issued for ${settings.domains.join(', ')} (expires ${notAfter.toISOString()})`,
      );
      return true;
    } catch (err) {
      const failure =
        err instanceof AcmeFailure
          ? err
          : new AcmeFailure('other', `ACME: ${(err as Error).message}`);
      failures += 1;
      lastFailure = { at: now().toISOString(), kind: failure.kind, error: failure.message };
      metrics.acmeOrder('failed');
      const backoff = Math.min(retry.minMs * 2 ** (failures - 1), retry.maxMs);
      const at = Math.max(now().getTime() + backoff, failure.retryAfter?.getTime() ?? 0);
      nextAttemptAt = new Date(at);
      logger.error(
        { kind: failure.kind, nextAttemptAt: nextAttemptAt.toISOString() },
        `${failure.message} (next attempt at ${nextAttemptAt.toISOString()})`,
      );
      return false;
    }
  };

  const sleepUntil = (at: Date) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      const step = () => {
        const left = at.getTime() - now().getTime();
        if (stopped || left <= 0) return resolve();
        timer = setTimeout(step, Math.min(left, MAX_TIMER_MS));
        timer.unref();
      };
      step();
    });

  if (usable(current, settings, now())) {
    const { notAfter } = certificateDates((current as StoredCertificate).cert);
    logger.info(
      { notAfter: notAfter.toISOString() },
      `ACME: serving the certificate kept in ACME_STATE_DIR (expires ${notAfter.toISOString()})`,
    );
  } else {
    logger.info(
      { domains: settings.domains, directoryUrl: settings.directoryUrl },
      `ACME: ordering a certificate for ${settings.domains.join(', ')} (HTTP-01 on port ${challenges.port})`,
    );
    // Nothing to serve HTTPS or turns: with yet: start-up waits (the healthcheck says so).
    while (!(await attempt())) {
      await sleepUntil(nextAttemptAt as Date);
      if (stopped) {
        await challenges.close();
        throw new Error('stopped before a certificate was obtained');
      }
    }
  }

  const renewals = (async () => {
    while (!stopped) {
      const dates = certificateDates((current as StoredCertificate).cert);
      // Never sooner than a retry would be: a certificate already due (a clock ahead of the
      // CA's, a lifetime shorter than expected) must not turn into an order per millisecond.
      const soonest = now().getTime() + retry.minMs;
      const due =
        lastFailure && nextAttemptAt
          ? nextAttemptAt
          : new Date(Math.max(renewalDue(dates).getTime(), soonest));
      nextAttemptAt = due;
      await sleepUntil(due);
      if (stopped) return;
      await attempt();
    }
  })();

  return {
    certificate: () => current as StoredCertificate,
    certFile: store.certFile,
    keyFile: store.keyFile,
    status: () => {
      const dates = current ? certificateDates(current.cert) : undefined;
      return {
        domains: settings.domains,
        ...(dates
          ? { notBefore: dates.notBefore.toISOString(), notAfter: dates.notAfter.toISOString() }
          : {}),
        ...(nextAttemptAt ? { nextAttemptAt: nextAttemptAt.toISOString() } : {}),
        ...(lastFailure ? { lastFailure } : {}),
      };
    },
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      wake?.();
      await challenges.close();
      // An order in flight finishes or fails on its own; nothing waits for it.
      void renewals;
    },
  };
}
