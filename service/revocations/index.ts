import type { Logger } from 'pino';
import type { ServiceConfig } from '../config';
import type { Metrics } from '../http/metrics';
import { hashedUserId } from '../providers/coturn';
import { relayAdminPassword } from '../relay-secrets';
import { Revocations } from './revocations';
import { RevocationStore } from './store';

export { MAX_REVOCATION_SECONDS, Revocations } from './revocations';

/**
 * The deployment's revocations as this service runs them: its store (REVOCATIONS_DIR), its
 * relay's admin CLI when it writes RELAY_SECRETS_DIR for a Coturn relay on this host, and its
 * fleet peers (REVOCATION_PEERS).
 */
export function createRevocations(
  config: ServiceConfig,
  logger: Logger,
  metrics: Metrics,
): Revocations {
  const settings = config.revocations;
  const p = config.providerConfig;
  const coturn = p.provider === 'coturn' ? p : undefined;
  const relayName = coturn?.turnUris[0]
    ? new URL(coturn.turnUris[0].replace(/^turns?:/, 'turn://')).hostname
    : 'relay';
  const relay =
    coturn && config.relaySecrets
      ? {
          name: relayName,
          admin: {
            port: settings.adminPort,
            password: relayAdminPassword(config.relaySecrets.dir),
          },
        }
      : undefined;
  return new Revocations({
    store: new RevocationStore(settings.dir),
    usernameTags: (user) =>
      coturn?.hashUserIds
        ? [coturn.secret, ...(config.relaySecrets?.previousTurnSecrets ?? [])].map((s) =>
            hashedUserId(s, user),
          )
        : [user],
    ...(relay ? { relay } : {}),
    peers: settings.peers,
    ...(config.apiTokens[0] ? { token: config.apiTokens[0] } : {}),
    ...(settings.peerCa ? { peerCa: settings.peerCa } : {}),
    credentialTtl: p.credentialTtl,
    onSessionsEnded: (n) => metrics.sessionsEnded(n),
    onChange: (active) => metrics.revocationsActive(active),
    log: logger,
  });
}
