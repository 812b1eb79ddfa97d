import type { Logger } from 'pino';
import { type FileRead, watchFiles } from './watch';

/**
 * What happens when the files behind some material (the HTTPS certificate, the TURN secret)
 * change under the running service: the new version is checked and applied, or kept out and
 * reported (one error line, a metric, the /readyz detail) while the old one stays in use.
 *
 * Writers rarely replace several files at once (a renewal writes the certificate, then the
 * key), so a version that fails its check is not reported at once: it is reported only if no
 * good version has replaced it SETTLE_POLLS polls later. A good version is applied at the first
 * poll that sees it.
 */

/** What a reload is about; `relay_tls`: the certificate the relay serves (relay-certificate.ts). */
export type Material = 'tls' | 'turn_secret' | 'relay_tls';

/** Polls a bad version may take to be completed before it is reported. */
export const SETTLE_POLLS = 2;

/** One file behind a material, and the variable that names it. */
export interface ReloadSource {
  variable: string;
  file: string;
}

/** A new version of the material: how to apply it, or why it is refused. */
export type ReloadVerdict =
  /** `apply` switches to it and returns the line logged (naming no secret). */
  | { ok: true; apply: () => string }
  /** `cause`: a phrase naming no content, e.g. "the file holds no PEM certificate". */
  | { ok: false; variable: string; cause: string };

/** A reload that failed, shown in /readyz (with the token) until a later one succeeds. */
export interface ReloadFailure {
  material: Material;
  variable: string;
  file: string;
  error: string;
  failedAt: string;
  /** When the material still in use was loaded. */
  loadedAt: string;
}

/** What the Prometheus side needs (http/metrics.ts). */
export interface ReloadMetrics {
  materialLoaded(material: Material, at: Date): void;
  reloaded(material: Material, outcome: 'applied' | 'failed'): void;
}

export interface ReloaderOptions {
  material: Material;
  /** The material in the error line's "keeping … loaded at", e.g. "the certificate". */
  what: string;
  /** In the order the check receives their reads. */
  sources: ReloadSource[];
  check: (reads: FileRead[]) => ReloadVerdict;
  /** How long a bad version may take to be completed before it is reported. */
  settleMs: number;
  logger: Logger;
  metrics: ReloadMetrics;
  now?: () => Date;
}

export interface Reloader {
  /** Called with the sources' contents whenever one of them changed. */
  onChange(reads: FileRead[]): void;
  /** The last reload's failure, until a later reload succeeds. */
  failure(): ReloadFailure | undefined;
  stop(): void;
}

export function createReloader(opts: ReloaderOptions): Reloader {
  const now = opts.now ?? (() => new Date());
  let loadedAt = now();
  let failure: ReloadFailure | undefined;
  let pending: { variable: string; cause: string } | undefined;
  let settle: NodeJS.Timeout | undefined;
  opts.metrics.materialLoaded(opts.material, loadedAt);

  // Paths, not values: each was read successfully at start-up, so none is a secret set where
  // its path belongs (the mistake readVarFile keeps out of its messages).
  const fileOf = (variable: string) =>
    opts.sources.find((s) => s.variable === variable)?.file ?? '';

  const report = (variable: string, cause: string) => {
    const file = fileOf(variable);
    failure = {
      material: opts.material,
      variable,
      file,
      error: cause,
      failedAt: now().toISOString(),
      loadedAt: loadedAt.toISOString(),
    };
    opts.metrics.reloaded(opts.material, 'failed');
    opts.logger.error(
      { material: opts.material, variable, file },
      `${variable} ${file}: ${cause}; keeping ${opts.what} loaded at ${failure.loadedAt}`,
    );
  };

  const settled = () => {
    settle = undefined;
    if (pending) report(pending.variable, pending.cause);
    pending = undefined;
  };

  const quiet = () => {
    clearTimeout(settle);
    settle = undefined;
    pending = undefined;
  };

  return {
    onChange(reads) {
      const verdict = opts.check(reads);
      if (!verdict.ok) {
        // The latest bad version is what gets reported, the settle time counted from the first.
        pending = { variable: verdict.variable, cause: verdict.cause };
        settle ??= setTimeout(settled, opts.settleMs).unref();
        return;
      }
      quiet();
      let line: string;
      try {
        line = verdict.apply();
      } catch (err) {
        // Checked and still refused: waiting would not make it work.
        const variable = opts.sources[0]?.variable ?? opts.material;
        return report(variable, `could not be applied: ${(err as Error).message}`);
      }
      failure = undefined;
      loadedAt = now();
      opts.metrics.reloaded(opts.material, 'applied');
      opts.metrics.materialLoaded(opts.material, loadedAt);
      opts.logger.info({ material: opts.material }, line);
    },
    failure: () => failure,
    stop: quiet,
  };
}

/** What every material's reload shares: where it reports, how often it polls. */
export type ReloadContext = Pick<ReloaderOptions, 'logger' | 'metrics' | 'now'> & {
  intervalMs: number;
};

/** One material's running reload, as start.ts holds it. */
export type MaterialReload = Pick<Reloader, 'failure' | 'stop'>;

/** A reloader fed by polling its sources every `intervalMs`. */
export function reloadOnChange(
  opts: Omit<ReloaderOptions, 'settleMs'> & { intervalMs: number },
): MaterialReload {
  // Half a poll more than SETTLE_POLLS polls: the report never races the poll that would
  // have seen the completed version.
  const settleMs = (SETTLE_POLLS + 0.5) * opts.intervalMs;
  const reloader = createReloader({ ...opts, settleMs });
  const watch = watchFiles(
    opts.sources.map((s) => s.file),
    opts.intervalMs,
    reloader.onChange,
  );
  return {
    failure: reloader.failure,
    stop() {
      watch.stop();
      reloader.stop();
    },
  };
}
