import { readFileSync } from 'node:fs';
import { ConfigError } from './errors';
import { type Env, present } from './read';

/** What POST /v1/revocations needs besides the relay's admin CLI (service/revocations/). */
export interface RevocationSettings {
  /** REVOCATIONS_DIR: the revocations survive a restart there. */
  dir?: string;
  /** REVOCATION_PEERS: the other fleet hosts' service origins. */
  peers: string[];
  /** PEER_CA_FILE's PEM. */
  peerCa?: string;
  /** TURN_CLI_PORT: the relay's admin CLI on 127.0.0.1. */
  adminPort: number;
}

export function readRevocationSettings(env: Env): RevocationSettings {
  const dir = present(env, 'REVOCATIONS_DIR');
  if (dir !== undefined && !dir.startsWith('/'))
    throw new ConfigError(
      'REVOCATIONS_DIR must be an absolute path (the stack mounts a volume there)',
    );
  const peers = (present(env, 'REVOCATION_PEERS') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((raw) => {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw new ConfigError(
          `REVOCATION_PEERS must be service origins like https://us.example.com:8080, got "${raw}"`,
        );
      }
      if (url.protocol !== 'https:' || url.pathname !== '/' || url.search || url.username)
        throw new ConfigError(
          `REVOCATION_PEERS must be https origins (scheme, host and port only: the API token goes to them), got "${raw}"`,
        );
      return url.origin;
    });
  const caFile = present(env, 'PEER_CA_FILE');
  let peerCa: string | undefined;
  if (caFile !== undefined) {
    try {
      peerCa = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `PEER_CA_FILE cannot be read (${(err as NodeJS.ErrnoException).code}): ${caFile}`,
      );
    }
    if (!peerCa.includes('-----BEGIN CERTIFICATE-----'))
      throw new ConfigError(`PEER_CA_FILE holds no PEM certificate: ${caFile}`);
  }
  const rawPort = present(env, 'TURN_CLI_PORT') ?? '5766';
  const adminPort = Number(rawPort);
  if (!/^\d{1,5}$/.test(rawPort) || adminPort < 1 || adminPort > 65535)
    throw new ConfigError(`TURN_CLI_PORT must be a port number, got "${rawPort}"`);
  return { ...(dir ? { dir } : {}), peers, ...(peerCa ? { peerCa } : {}), adminPort };
}
