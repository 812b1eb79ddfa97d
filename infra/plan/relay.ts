import {
  COTURN_UID,
  definedEnv,
  RELAY_RUNTIME_DIR,
  RELAY_SECRET_FILES,
  RELAY_SECRETS_DIR,
  type RelayEnv,
  SERVICE_UID,
} from '../../contract';
import type { StackConfig } from '../stack/read';
import {
  DRAIN_SECONDS,
  HEALTH_TIMING,
  LOG_OPTIONS,
  probeHost,
  relayBindsPrivilegedPort,
} from './common';
import type { ContainerPlan, VolumePlan } from './types';

/** The relay's container: Coturn with the shipped config, fed by coturn/entrypoint.sh. */

/**
 * The relay's secret files are not uploaded into it: the service writes them into a volume
 * the relay mounts read-only (relaySecretsVolume), and the relay's watcher applies new ones.
 * So the relay's definition holds no secret and no generation, and a rotation or a new
 * certificate replaces only the service.
 */
const inSecretsDir = (file: string) => `${RELAY_SECRETS_DIR}/${file}`;

/** `inFleet`: one of several hosts (turnkey:relays), whose others take new calls while it drains. */
export function coturnContainer(
  config: StackConfig,
  prefix: string,
  inFleet = false,
): ContainerPlan {
  const listening = config.listeningIps.length > 0 ? config.listeningIps.join(',') : undefined;
  const env: RelayEnv = {
    RELAY_SECRETS_DIR,
    TURN_SECRET_FILE: inSecretsDir(RELAY_SECRET_FILES.turnSecret),
    // Always: empty until the first rotation, so a rotation changes no variable here.
    TURN_SECRET_PREVIOUS_FILE: inSecretsDir(RELAY_SECRET_FILES.previousTurnSecret),
    TURN_REALM: config.realm,
    TURN_PORT: String(config.turnPort),
    TURN_RELAY_PORTS: `${config.relayPorts.min}-${config.relayPorts.max}`,
    TURN_RUNTIME_DIR: RELAY_RUNTIME_DIR,
    TURN_TLS_PORT: config.tls ? String(config.tlsPort) : undefined,
    TURN_TLS_CERT_FILE: config.tls ? inSecretsDir(RELAY_SECRET_FILES.tlsCert) : undefined,
    TURN_TLS_KEY_FILE: config.tls ? inSecretsDir(RELAY_SECRET_FILES.tlsKey) : undefined,
    EXTERNAL_IP: config.externalIp,
    TURN_USER_QUOTA: config.userQuota ? String(config.userQuota) : undefined,
    TURN_TOTAL_QUOTA: config.totalQuota ? String(config.totalQuota) : undefined,
    TURN_MAX_BPS: config.maxBps ? String(config.maxBps) : undefined,
    TURN_LISTENING_IPS: listening,
    TURN_RELAY_IPS: listening,
    // The admin CLI on 127.0.0.1, through which the service ends revoked users' sessions; its
    // password is the one the service keeps in the volume.
    TURN_CLI_PORT: String(config.relayAdminPort),
    TURN_CLI_PASSWORD_FILE: inSecretsDir(RELAY_SECRET_FILES.cliPassword),
    TURN_ALLOWED_PEER_IPS:
      config.allowedPeerIps.length > 0 ? config.allowedPeerIps.join(',') : undefined,
  };
  return {
    role: 'coturn',
    name: `${prefix}-coturn`,
    image: 'coturn',
    networkMode: 'host',
    env: definedEnv(env),
    files: [],
    volumes: [{ volume: relaySecretsVolumeName(prefix), path: RELAY_SECRETS_DIR, readOnly: true }],
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
    // Coturn drains on SIGUSR1: new allocations refused (403 "draining"), the ones in progress
    // relayed until they end, then it exits (mainrelay.c drain_handler, netengine.c run loop;
    // ns_turn_server.c handle_turn_allocate). The grace bounds the drain.
    stopSignal: 'SIGUSR1',
    stopGraceSeconds:
      config.drainSeconds ?? (inFleet ? DRAIN_SECONDS.fleet : DRAIN_SECONDS.singleHost),
  };
}

export const relaySecretsVolumeName = (prefix: string) => `${prefix}-relay-secrets`;

/**
 * The volume the service writes the relay's secret files to: in memory, 1 MB, owned by the
 * service's user and readable by the relay's group (nogroup) only. It lives as long as either
 * container holds it, so a replaced service finds the relay still reading it, and the relay
 * waits at start until the service has written it.
 */
export function relaySecretsVolume(prefix: string): VolumePlan {
  return {
    purpose: 'relay-secrets',
    name: relaySecretsVolumeName(prefix),
    driverOpts: {
      type: 'tmpfs',
      device: 'tmpfs',
      o: `size=1m,mode=0750,uid=${SERVICE_UID},gid=${COTURN_UID}`,
    },
  };
}
