import { CREDENTIAL_TTL } from '../../contract';
import { InvalidInputError } from './errors';

/**
 * The lifetime to issue: the requested one (a request's `ttl`), capped at the configured
 * credential lifetime, which is also the default.
 */
export function resolveTtl(requested: number | undefined, credentialTtl: number): number {
  if (requested === undefined) return credentialTtl;
  if (!Number.isInteger(requested) || requested < CREDENTIAL_TTL.min) {
    throw new InvalidInputError(
      'ttl',
      `ttl must be a whole number of seconds, at least ${CREDENTIAL_TTL.min}`,
    );
  }
  return Math.min(requested, credentialTtl);
}
