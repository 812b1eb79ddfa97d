import {
  ACME_STATE_DIR,
  definedEnv,
  hostInUri,
  iceUri,
  isUnspecified,
  RELAY_SECRETS_DIR,
  REVOCATIONS_DIR,
  type ServiceEnv,
} from '../../contract';
import type { StackConfig } from '../stack/read';
import {
  HEALTH_TIMING,
  LOG_OPTIONS,
  probeHost,
  STOP_GRACE_SECONDS,
  secretFile,
  serviceBindHost,
  stunUris,
  turnUris,
} from './common';
import { relaySecretsVolumeName } from './relay';
import type { ContainerPlan, PlanOptions, VolumePlan } from './types';

/** The credential service's container: its env per provider, its secret files, its healthcheck. */

/** The service container's secret files, by what they hold. */
const SERVICE_FILES = {
  apiToken: secretFile('apiToken', 'api-tokens'),
  tlsCert: secretFile('tlsCert', 'tls-cert.pem'),
  tlsKey: secretFile('tlsKey', 'tls-key.pem'),
  turnSecret: secretFile('turnSecret', 'turn-secret'),
  previousTurnSecret: secretFile('previousTurnSecret', 'turn-secret-previous'),
  meteredApiKey: secretFile('meteredApiKey', 'metered-api-key'),
  meteredCredentialApiKey: secretFile('meteredCredentialApiKey', 'metered-credential-api-key'),
  acmeCaCert: secretFile('acmeCaCert', 'acme-ca.pem'),
  fleetCaCert: secretFile('fleetCaCert', 'fleet-ca.pem'),
};

export const acmeStateVolumeName = (prefix: string) => `${prefix}-acme-state`;

/**
 * Where the ACME account and certificate persist: a volume on the host's disk, so a replaced
 * service reuses them (no new order on every deploy). The image creates ACME_STATE_DIR owned by
 * the service's user, and Docker copies that owner into a new volume.
 */
export function acmeStateVolume(prefix: string): VolumePlan {
  return { purpose: 'acme-state', name: acmeStateVolumeName(prefix) };
}

export const revocationsVolumeName = (prefix: string) => `${prefix}-revocations`;

/** Where the active revocations persist: on the host's disk, so a replaced service keeps them. */
export function revocationsVolume(prefix: string): VolumePlan {
  return { purpose: 'revocations', name: revocationsVolumeName(prefix) };
}

export function serviceContainer(
  config: StackConfig,
  prefix: string,
  fleet?: PlanOptions['fleet'],
): ContainerPlan {
  const coturn = config.provider === 'coturn';
  const rotating = coturn && config.secretGeneration > 1;
  const metered = config.provider === 'metered';
  // Which of Metered's two keys: each has its own variable and file (README "Metered").
  const meteredKey = metered ? (config.meteredKey ?? 'meteredApiKey') : undefined;
  // Same host network as the relay: probe it directly, not through the public address.
  const probeUrl = coturn ? iceUri('turn', probeHost(config), config.turnPort) : undefined;
  // A fleet's service hands out every relay (TURN_RELAYS) instead of its own alone.
  const single = coturn && !fleet;
  const [own, ...others] = fleet?.relays ?? [];
  const acme = config.acme;
  // The certificate is the stack's (tlsCert/tlsKey) or the service's own (ACME).
  const supplied = config.tls && !acme;
  // Port 80 needs root to bind; the service drops to its user right after (service/main.ts).
  const privileged = acme !== undefined && acme.httpPort < 1024;
  const env: ServiceEnv = {
    TURN_PROVIDER: config.provider,
    TURN_TTL: String(config.credentialTtl),
    API_TOKENS_FILE: SERVICE_FILES.apiToken.path,
    HOST: serviceBindHost(config),
    PORT: String(config.servicePort),
    METRICS_HOST: config.metricsHost,
    METRICS_PORT: config.metricsPort ? String(config.metricsPort) : undefined,
    // The relay's certificate: the same name serves turns: and the API.
    TLS_CERT_FILE: supplied ? SERVICE_FILES.tlsCert.path : undefined,
    TLS_KEY_FILE: supplied ? SERVICE_FILES.tlsKey.path : undefined,
    ACME_EMAIL: acme?.email,
    ACME_DIRECTORY_URL: acme?.directoryUrl,
    // Each fleet host its own name (hostConfig gives each its own publicHost).
    ACME_DOMAINS: acme ? config.publicHost : undefined,
    ACME_HTTP_PORT: acme ? String(acme.httpPort) : undefined,
    ACME_STATE_DIR: acme ? ACME_STATE_DIR : undefined,
    ACME_CA_FILE: acme?.caCert !== undefined ? SERVICE_FILES.acmeCaCert.path : undefined,
    TURN_SECRET_FILE: coturn ? SERVICE_FILES.turnSecret.path : undefined,
    // The service signs with the current secret only; it passes both on to the relay.
    TURN_SECRET_PREVIOUS_FILE: rotating ? SERVICE_FILES.previousTurnSecret.path : undefined,
    RELAY_SECRETS_DIR: coturn ? RELAY_SECRETS_DIR : undefined,
    TURN_CLI_PORT: coturn ? String(config.relayAdminPort) : undefined,
    REVOCATIONS_DIR,
    REVOCATION_PEERS: fleet?.peers?.length ? fleet.peers.join(',') : undefined,
    PEER_CA_FILE:
      fleet?.peers?.length && config.fleetCaCert !== undefined
        ? SERVICE_FILES.fleetCaCert.path
        : undefined,
    TURN_URLS: single ? turnUris(config).join(',') : undefined,
    STUN_URLS: single
      ? stunUris(config).join(',')
      : config.provider === 'stun' && config.stunUrls.length > 0
        ? config.stunUrls.join(',')
        : undefined,
    TURN_PROBE_URL: single ? probeUrl : undefined,
    TURN_RELAYS: coturn && own ? JSON.stringify([{ ...own, probeUrl }, ...others]) : undefined,
    TURN_DEFAULT_REGION: coturn ? fleet?.defaultRegion : undefined,
    TURN_HASH_USER_IDS: coturn && config.hashUserIds ? 'true' : undefined,
    TURN_API_URL: metered ? config.meteredApiUrl : undefined,
    TURN_API_KEY_FILE:
      meteredKey === 'meteredApiKey' ? SERVICE_FILES.meteredApiKey.path : undefined,
    TURN_CREDENTIAL_API_KEY_FILE:
      meteredKey === 'meteredCredentialApiKey'
        ? SERVICE_FILES.meteredCredentialApiKey.path
        : undefined,
    // Minted credentials carry the relay's and stack's name, telling deployments on one
    // account apart (turnkey-<stack> for the stack's own relay).
    TURN_LABEL: meteredKey === 'meteredApiKey' ? prefix.slice(0, 99) : undefined,
    TURN_REGION: metered ? config.meteredRegion : undefined,
  };
  const files = [
    SERVICE_FILES.apiToken,
    ...(supplied ? [SERVICE_FILES.tlsCert, SERVICE_FILES.tlsKey] : []),
    ...(acme?.caCert !== undefined ? [SERVICE_FILES.acmeCaCert] : []),
    ...(fleet?.peers?.length && config.fleetCaCert !== undefined
      ? [SERVICE_FILES.fleetCaCert]
      : []),
    ...(coturn ? [SERVICE_FILES.turnSecret] : []),
    ...(rotating ? [SERVICE_FILES.previousTurnSecret] : []),
    ...(meteredKey ? [SERVICE_FILES[meteredKey]] : []),
  ];
  const bound = serviceBindHost(config);
  const target = `${hostInUri(isUnspecified(bound) ? '127.0.0.1' : bound)}:${config.servicePort}`;
  // With TLS the certificate names the public host, not this address; /healthz sends nothing
  // secret, so the check skips verification rather than fail on a private CA.
  const healthz = config.tls
    ? `require('node:https').get('https://${target}/healthz',{rejectUnauthorized:false},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))`
    : `fetch('http://${target}/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`;
  return {
    role: 'service',
    name: `${prefix}-service`,
    image: 'service',
    networkMode: 'host',
    env: definedEnv(env),
    files,
    ...(privileged ? { user: '0:0' } : {}),
    volumes: [
      ...(coturn
        ? [{ volume: relaySecretsVolumeName(prefix), path: RELAY_SECRETS_DIR, readOnly: false }]
        : []),
      ...(acme
        ? [{ volume: acmeStateVolumeName(prefix), path: ACME_STATE_DIR, readOnly: false }]
        : []),
      { volume: revocationsVolumeName(prefix), path: REVOCATIONS_DIR, readOnly: false },
    ],
    restart: 'unless-stopped',
    healthcheck: {
      test: ['CMD', 'node', '-e', healthz],
      ...HEALTH_TIMING,
      // The first certificate is ordered before the service listens: a CA validates in
      // seconds, but takes its time under load. Written as Go prints it (the provider reads it
      // back so; any other form would replace the container on every up).
      ...(acme ? { startPeriod: '1m0s' } : {}),
    },
    logDriver: 'json-file',
    logOptions: LOG_OPTIONS,
    tmpfs: {},
    capabilities: {
      drop: ['ALL'],
      add: privileged ? ['NET_BIND_SERVICE', 'SETUID', 'SETGID'] : [],
    },
    securityOpts: ['no-new-privileges'],
    stopSignal: 'SIGTERM',
    stopGraceSeconds: STOP_GRACE_SECONDS,
  };
}
