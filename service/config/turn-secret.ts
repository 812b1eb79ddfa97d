import { ConfigError } from './errors';
import { type Env, present, readSecret } from './read';

/**
 * TURN_SECRET (or TURN_SECRET_FILE): what coturn/entrypoint.sh's check_secret lets into the
 * relay's config, and long enough that an observed credential (an HMAC of it) cannot be used
 * to brute-force the secret offline.
 */

export const MIN_TURN_SECRET_LENGTH = 32;
/** The entrypoint's upper bound: turnserver's config lines are read in bounded pieces. */
export const MAX_TURN_SECRET_LENGTH = 256;
/** Base64 and hex, as `openssl rand` makes them; nothing turnserver's config parser would split. */
const SECRET_CHARS = /^[A-Za-z0-9._~+/=-]+$/;
const FIX = 'e.g. `openssl rand -hex 32`';

/** Why `secret` is refused, as a sentence after the variable's name, or undefined. */
export function turnSecretProblem(secret: string): string | undefined {
  if (!SECRET_CHARS.test(secret))
    return `may contain only letters, digits and . _ ~ + / = - (base64 or hex, ${FIX})`;
  // turnserver drops leading '=' from config values: relay and service would disagree.
  if (secret.startsWith('='))
    return `must not start with '=': the relay would drop it and check with another secret (${FIX})`;
  if (secret.length < MIN_TURN_SECRET_LENGTH)
    return `is too short: use at least ${MIN_TURN_SECRET_LENGTH} characters, ${FIX}`;
  if (secret.length > MAX_TURN_SECRET_LENGTH)
    return `is too long: use at most ${MAX_TURN_SECRET_LENGTH} characters, ${FIX}`;
  return undefined;
}

/** The coturn provider's signing secret; undefined when neither form is set. */
export function readTurnSecret(env: Env): string | undefined {
  const secret = readSecret(env, 'TURN_SECRET');
  if (secret === undefined) return undefined;
  const problem = turnSecretProblem(secret);
  if (problem) {
    const from = present(env, 'TURN_SECRET_FILE') === undefined ? '' : ' (from TURN_SECRET_FILE)';
    throw new ConfigError(`TURN_SECRET${from} ${problem}`);
  }
  return secret;
}
