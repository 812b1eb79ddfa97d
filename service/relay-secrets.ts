import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RELAY_SECRET_FILES } from '../contract';
import { ConfigError, type RelaySecretsConfig } from './config';

/**
 * Writes the relay's files into RELAY_SECRETS_DIR. Each file is written whole under another
 * name and renamed into place, so the relay's watcher (coturn/entrypoint.sh) never reads half
 * of one; it applies a change once it has held for one check, so the certificate and key land
 * together. Readable by all: the directory (the stack's volume, mode 0750, group nogroup)
 * is what keeps them to this user and the relay's.
 */
export function publishRelaySecrets(config: RelaySecretsConfig): void {
  writeRelayFiles(config.dir, [
    [RELAY_SECRET_FILES.turnSecret, config.turnSecret],
    [RELAY_SECRET_FILES.previousTurnSecret, config.previousTurnSecrets.join('\n')],
  ]);
  if (config.tls) publishRelayTls(config.dir, config.tls);
  relayAdminPassword(config.dir);
}

/**
 * A new certificate for the relay (a renewal, or TLS_CERT_FILE rewritten): the key first, so
 * the relay's watcher sees the pair complete once the certificate lands.
 */
export function publishRelayTls(dir: string, tls: { cert: string; key: string }): void {
  writeRelayFiles(dir, [
    [RELAY_SECRET_FILES.tlsKey, tls.key],
    [RELAY_SECRET_FILES.tlsCert, tls.cert],
  ]);
}

function writeRelayFiles(dir: string, files: [string, string][]): void {
  for (const [name, content] of files) {
    const target = join(dir, name);
    const staged = join(dir, `.${name}.${randomBytes(4).toString('hex')}`);
    try {
      writeFileSync(staged, content.endsWith('\n') || content === '' ? content : `${content}\n`, {
        mode: 0o444,
      });
      renameSync(staged, target);
    } catch (err) {
      rmSync(staged, { force: true });
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new ConfigError(
        `RELAY_SECRETS_DIR cannot be written (${code} on ${name}): mount the relay's secrets volume there, writable by the service's user, or unset RELAY_SECRETS_DIR`,
      );
    }
  }
}

/**
 * The relay's admin CLI password (RELAY_SECRET_FILES.cliPassword): the one in RELAY_SECRETS_DIR
 * if there is one, else a new one written there. The volume outlives either container alone,
 * and the relay reads the file at its start, so a replaced service keeps the password the
 * running relay has, and a fresh pair (the service starts first) agrees on a new one.
 */
export function relayAdminPassword(dir: string): string {
  const file = join(dir, RELAY_SECRET_FILES.cliPassword);
  try {
    const kept = readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9]{32,128}$/.test(kept)) return kept;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const password = randomBytes(24).toString('hex');
  writeRelayFiles(dir, [[RELAY_SECRET_FILES.cliPassword, password]]);
  return password;
}
