import { COTURN_UID, definedEnv, RELAY_RUNTIME_DIR, type RelayEnv } from '../../contract';
import type { StackConfig } from '../stack/read';
import {
  HEALTH_TIMING,
  LOG_OPTIONS,
  probeHost,
  relayBindsPrivilegedPort,
  STOP_GRACE_SECONDS,
  secretFile,
} from './common';
import type { ContainerPlan } from './types';

/** The relay's container: Coturn with the shipped config, fed by coturn/entrypoint.sh. */

/** The relay container's secret files, by what they hold. */
const RELAY_FILES = {
  turnSecret: secretFile('turnSecret', 'turn-secret'),
  previousTurnSecret: secretFile('previousTurnSecret', 'turn-secret-previous'),
  tlsCert: secretFile('tlsCert', 'tls-cert.pem'),
  tlsKey: secretFile('tlsKey', 'tls-key.pem'),
};

export function coturnContainer(config: StackConfig, prefix: string): ContainerPlan {
  const rotating = config.secretGeneration > 1;
  const listening = config.listeningIps.length > 0 ? config.listeningIps.join(',') : undefined;
  const env: RelayEnv = {
    TURN_SECRET_FILE: RELAY_FILES.turnSecret.path,
    TURN_SECRET_PREVIOUS_FILE: rotating ? RELAY_FILES.previousTurnSecret.path : undefined,
    TURN_REALM: config.realm,
    TURN_PORT: String(config.turnPort),
    TURN_RELAY_PORTS: `${config.relayPorts.min}-${config.relayPorts.max}`,
    TURN_RUNTIME_DIR: RELAY_RUNTIME_DIR,
    TURN_TLS_PORT: config.tls ? String(config.tlsPort) : undefined,
    TURN_TLS_CERT_FILE: config.tls ? RELAY_FILES.tlsCert.path : undefined,
    TURN_TLS_KEY_FILE: config.tls ? RELAY_FILES.tlsKey.path : undefined,
    EXTERNAL_IP: config.externalIp,
    TURN_USER_QUOTA: config.userQuota ? String(config.userQuota) : undefined,
    TURN_TOTAL_QUOTA: config.totalQuota ? String(config.totalQuota) : undefined,
    TURN_MAX_BPS: config.maxBps ? String(config.maxBps) : undefined,
    TURN_LISTENING_IPS: listening,
    TURN_RELAY_IPS: listening,
  };
  const files = [
    RELAY_FILES.turnSecret,
    ...(rotating ? [RELAY_FILES.previousTurnSecret] : []),
    ...(config.tls ? [RELAY_FILES.tlsCert, RELAY_FILES.tlsKey] : []),
  ];
  return {
    role: 'coturn',
    name: `${prefix}-coturn`,
    image: 'coturn',
    networkMode: 'host',
    env: definedEnv(env),
    files,
    restart: 'unless-stopped',
    healthcheck: {
      test: [
        'CMD-SHELL',
        `turnutils_stunclient -p ${config.turnPort} ${probeHost(config)} >/dev/null`,
      ],
      ...HEALTH_TIMING,
    },
    logDriver: 'json-file',
    logOptions: LOG_OPTIONS,
    // The entrypoint's private config (with the secrets) lives in memory, not in a layer.
    tmpfs: {
      [RELAY_RUNTIME_DIR]: `rw,noexec,nosuid,size=1m,mode=0700,uid=${COTURN_UID},gid=${COTURN_UID}`,
    },
    // turnserver carries CAP_NET_BIND_SERVICE as a file capability (for :443); nothing else.
    // The kernel refuses to exec a file whose capability is outside the bounding set, so the
    // capability stays even when no port needs it.
    capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
    // no-new-privileges makes exec ignore file capabilities (turnserver then runs with none),
    // which costs only the bind below 1024; relay ports are always >= 1024.
    securityOpts: relayBindsPrivilegedPort(config) ? [] : ['no-new-privileges'],
    stopGraceSeconds: STOP_GRACE_SECONDS,
  };
}
