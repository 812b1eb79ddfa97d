import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
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
  const files: [string, string][] = [
    [RELAY_SECRET_FILES.turnSecret, config.turnSecret],
    [RELAY_SECRET_FILES.previousTurnSecret, config.previousTurnSecrets.join('\n')],
  ];
  if (config.tls)
    files.push(
      [RELAY_SECRET_FILES.tlsKey, config.tls.key],
      [RELAY_SECRET_FILES.tlsCert, config.tls.cert],
    );
  for (const [name, content] of files) {
    const target = join(config.dir, name);
    const staged = join(config.dir, `.${name}.${randomBytes(4).toString('hex')}`);
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
