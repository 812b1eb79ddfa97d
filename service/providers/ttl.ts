import { InvalidInputError } from './errors';

/** Browsers need time to gather and connect; shorter credentials only cause failed calls. */
export const MIN_TTL_SECONDS = 60;

/**
 * The lifetime to issue: the requested one, capped at the configured maximum.
 * Coturn itself enforces no upper bound, so this cap is the only one there is.
 */
export function resolveTtl(requested: number | undefined, maxTtl: number): number {
  if (requested === undefined) return maxTtl;
  if (!Number.isInteger(requested) || requested < MIN_TTL_SECONDS) {
    throw new InvalidInputError(
      'ttl',
      `ttl must be a whole number of seconds, at least ${MIN_TTL_SECONDS}`,
    );
  }
  return Math.min(requested, maxTtl);
}
