import type { SecretSigningProvider } from '../providers/types';
import { type ReloadContext, type ReloadVerdict, reloadOnChange } from './reload';
import { turnSecretProblem } from './turn-secret';
import type { FileRead } from './watch';

/**
 * A rotated TURN secret (TURN_SECRET_FILE rewritten) signed with without a restart, once it
 * passes the rules start-up applies (config/turn-secret.ts). The service signs with the current
 * secret only: earlier ones (TURN_SECRET_PREVIOUS) are the relay's, never the service's.
 */

const VARIABLE = 'TURN_SECRET_FILE';

/** The verdict on one version of the file, applied to `provider`. */
export function turnSecretVerdict(
  provider: Pick<SecretSigningProvider, 'useSecret'>,
  read: FileRead,
): ReloadVerdict {
  if (!read.ok)
    return { ok: false, variable: VARIABLE, cause: `the file cannot be read (${read.code})` };
  // Trimmed as at start-up (readVarFile): a trailing newline is not part of the secret.
  const secret = read.bytes.toString('utf8').trim();
  if (secret === '') return { ok: false, variable: VARIABLE, cause: 'the file is empty' };
  const problem = turnSecretProblem(secret);
  if (problem) return { ok: false, variable: VARIABLE, cause: `the secret ${problem}` };
  return {
    ok: true,
    apply: () => {
      provider.useSecret(secret);
      return `TURN secret reloaded from ${VARIABLE}`;
    },
  };
}

export function reloadTurnSecret(
  provider: Pick<SecretSigningProvider, 'useSecret'>,
  file: string,
  context: ReloadContext,
) {
  return reloadOnChange({
    ...context,
    material: 'turn_secret',
    what: 'the secret',
    sources: [{ variable: VARIABLE, file }],
    check: ([read]) => turnSecretVerdict(provider, read as FileRead),
  });
}
