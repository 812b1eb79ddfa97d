import { ConfigError } from './errors';
import { type Env, present, readSecret } from './read';
import { readTurnSecret, turnSecretProblem } from './turn-secret';

/**
 * RELAY_SECRETS_DIR: the relay's files the service writes at start (service/relay-secrets.ts),
 * with what goes in them. The relay's watcher picks them up without a restart.
 */
export interface RelaySecretsConfig {
  dir: string;
  turnSecret: string;
  /** TURN_SECRET_PREVIOUS, one per entry: the relay still accepts them. */
  previousTurnSecrets: string[];
  /** The service's own certificate (TLS_CERT_FILE/TLS_KEY_FILE): the same name serves turns:. */
  tls?: { cert: string; key: string };
}

export function readRelaySecrets(
  env: Env,
  tls: { cert: string; key: string } | undefined,
): RelaySecretsConfig | undefined {
  const dir = present(env, 'RELAY_SECRETS_DIR');
  const previous = readSecret(env, 'TURN_SECRET_PREVIOUS');
  if (dir === undefined) {
    if (previous !== undefined)
      throw new ConfigError(
        'TURN_SECRET_PREVIOUS is set without RELAY_SECRETS_DIR: the service signs with TURN_SECRET alone and only passes earlier secrets on to the relay; set RELAY_SECRETS_DIR or unset TURN_SECRET_PREVIOUS',
      );
    return undefined;
  }
  if (!dir.startsWith('/'))
    throw new ConfigError(
      `RELAY_SECRETS_DIR must be an absolute path (the relay's secrets volume), got a relative one`,
    );
  const turnSecret = readTurnSecret(env);
  if (turnSecret === undefined)
    throw new ConfigError(
      'RELAY_SECRETS_DIR is set without TURN_SECRET: the relay needs the secret the service signs with; set TURN_SECRET_FILE (or unset RELAY_SECRETS_DIR)',
    );
  const previousTurnSecrets = (previous ?? '')
    .split(/[,\r\n]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const s of previousTurnSecrets) {
    const problem = turnSecretProblem(s);
    if (problem) throw new ConfigError(`TURN_SECRET_PREVIOUS ${problem}`);
  }
  return { dir, turnSecret, previousTurnSecrets, ...(tls ? { tls } : {}) };
}
