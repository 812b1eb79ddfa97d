import { join } from 'node:path';
import type { StackConfig } from './config';

/**
 * Everything one stack deploys, as plain data: images, containers, env, secret files,
 * healthchecks. The Pulumi component turns it into resources one to one, and the end-to-end
 * tests run exactly this plan on a real Docker engine. Secrets appear only by name.
 */

export type SecretName =
  | 'turnSecret'
  | 'previousTurnSecret'
  | 'apiToken'
  | 'meteredApiKey'
  | 'meteredCredentialApiKey'
  | 'tlsCert'
  | 'tlsKey';
export type Role = 'coturn' | 'service';

export interface ImagePlan {
  role: Role;
  imageName: string;
  dockerfile: string;
  /**
   * Only what the image needs: coturn/ for the relay; for the service, the project root
   * filtered by service/Dockerfile.dockerignore down to the prebuilt bundle.
   */
  context: string;
  buildArgs: Record<string, string>;
  /** The Docker host's platform (turnkey:platform), never the machine running Pulumi. */
  platform: string;
}

/**
 * A secret written into the container's filesystem at creation, never into its env or args.
 * No owner: the provider's upload (the Terraform docker_container it bridges) writes every
 * file as uid 0, so the mode alone must let the image's non-root user read it. Nothing else
 * runs in the container, and each process copies what it needs into private memory.
 */
export interface SecretFilePlan {
  path: string;
  secret: SecretName;
  mode: '0444';
}

export interface ContainerPlan {
  role: Role;
  name: string;
  image: Role;
  networkMode: 'host';
  env: Record<string, string>;
  files: SecretFilePlan[];
  restart: 'unless-stopped';
  healthcheck: {
    test: string[];
    interval: string;
    timeout: string;
    startPeriod: string;
    retries: number;
  };
  logDriver: 'json-file';
  logOptions: Record<string, string>;
  tmpfs: Record<string, string>;
  capabilities: { drop: string[]; add: string[] };
  securityOpts: string[];
  /**
   * SIGTERM, then this long before SIGKILL, on replace and destroy (and `docker stop`): the
   * provider's default is 0 s, which would kill the service mid-request.
   */
  stopGraceSeconds: number;
}

export interface DeploymentPlan {
  stack: string;
  provider: StackConfig['provider'];
  /** Secrets the program must supply; the TURN ones are generated per generation. */
  secrets: SecretName[];
  images: ImagePlan[];
  containers: ContainerPlan[];
  outputs: {
    iceServersUrl: string;
    provider: StackConfig['provider'];
    turnUris: string[];
    stunUris: string[];
  };
}

export interface PlanOptions {
  stack: string;
  /** The project root, where the Dockerfiles and build contexts are. */
  projectRoot: string;
  /**
   * The relay's name (the component's): container names and image tags carry it with the
   * stack, so two relays in one stack, or two stacks on one host, never collide.
   */
  name?: string;
}

/** Used when turnkey:platform is unset: most Docker hosts (and clouds' cheapest VMs) are amd64. */
export const DEFAULT_PLATFORM = 'linux/amd64';

/** uid of the relay image's user (see coturn/Dockerfile.coturn): owns its private tmpfs. */
const COTURN_UID = '65534';
const SECRETS_DIR = '/run/secrets';
/** Bounded logs: a chatty relay must not fill the host's disk. */
const LOG_OPTIONS = { 'max-size': '10m', 'max-file': '3' };
const HEALTH_TIMING = { interval: '10s', timeout: '3s', startPeriod: '10s', retries: 3 };
/** The service drains in-flight requests for at most 10 s on SIGTERM (service/main.ts). */
const STOP_GRACE_SECONDS = 15;

const hostInUri = (host: string) => (host.includes(':') ? `[${host}]` : host);

/** Where a process on the same host reaches the listeners: loopback, unless bound elsewhere. */
const probeHost = (config: StackConfig) => config.listeningIps[0] ?? '127.0.0.1';

/**
 * Where the credential service listens. With TLS, where Coturn does (all interfaces unless
 * turnkey:listeningIps); without, only loopback, unless turnkey:serviceHost names another
 * (private) address: never plain HTTP on a public address by default.
 */
function serviceBindHost(config: StackConfig): string {
  if (config.serviceHost) return config.serviceHost;
  return config.tls ? (config.listeningIps[0] ?? '0.0.0.0') : '127.0.0.1';
}

const isUnspecified = (ip: string) => ip === '0.0.0.0' || ip === '::';

/**
 * The endpoint apps call: https on the public host (the certificate's name) with TLS; else
 * plain http at the address the service is bound to, reachable from that host or network.
 */
function iceServersUrl(config: StackConfig): string {
  const bound = serviceBindHost(config);
  const host = config.tls || isUnspecified(bound) ? config.publicHost : bound;
  const scheme = config.tls ? 'https' : 'http';
  return `${scheme}://${hostInUri(host)}:${config.servicePort}/v1/ice-servers`;
}

function secretFile(secret: SecretName, fileName: string): SecretFilePlan {
  return { path: `${SECRETS_DIR}/${fileName}`, secret, mode: '0444' };
}

export function turnUris(config: StackConfig): string[] {
  if (config.provider !== 'coturn') return [];
  const host = hostInUri(config.publicHost);
  const uris = [
    `turn:${host}:${config.turnPort}?transport=udp`,
    `turn:${host}:${config.turnPort}?transport=tcp`,
  ];
  if (config.tls) uris.push(`turns:${host}:${config.tlsPort}?transport=tcp`);
  return uris;
}

export function stunUris(config: StackConfig): string[] {
  if (config.provider === 'coturn')
    return [`stun:${hostInUri(config.publicHost)}:${config.turnPort}`];
  return config.provider === 'stun' ? [...config.stunUrls] : [];
}

const relayBindsPrivilegedPort = (config: StackConfig) =>
  config.turnPort < 1024 || (config.tls && config.tlsPort < 1024);

function coturnContainer(config: StackConfig, prefix: string): ContainerPlan {
  const files = [secretFile('turnSecret', 'turn-secret')];
  const env: Record<string, string> = {
    TURN_SECRET_FILE: `${SECRETS_DIR}/turn-secret`,
    TURN_REALM: config.realm,
    TURN_PORT: String(config.turnPort),
    TURN_RELAY_PORTS: `${config.relayPorts.min}-${config.relayPorts.max}`,
    TURN_RUNTIME_DIR: '/run/turnkey',
  };
  if (config.secretGeneration > 1) {
    files.push(secretFile('previousTurnSecret', 'turn-secret-previous'));
    env.TURN_SECRET_PREVIOUS_FILE = `${SECRETS_DIR}/turn-secret-previous`;
  }
  if (config.tls) {
    files.push(secretFile('tlsCert', 'tls-cert.pem'), secretFile('tlsKey', 'tls-key.pem'));
    Object.assign(env, {
      TURN_TLS_PORT: String(config.tlsPort),
      TURN_TLS_CERT_FILE: `${SECRETS_DIR}/tls-cert.pem`,
      TURN_TLS_KEY_FILE: `${SECRETS_DIR}/tls-key.pem`,
    });
  }
  if (config.externalIp) env.EXTERNAL_IP = config.externalIp;
  if (config.userQuota) env.TURN_USER_QUOTA = String(config.userQuota);
  if (config.totalQuota) env.TURN_TOTAL_QUOTA = String(config.totalQuota);
  if (config.maxBps) env.TURN_MAX_BPS = String(config.maxBps);
  if (config.listeningIps.length > 0) {
    env.TURN_LISTENING_IPS = config.listeningIps.join(',');
    env.TURN_RELAY_IPS = config.listeningIps.join(',');
  }
  return {
    role: 'coturn',
    name: `${prefix}-coturn`,
    image: 'coturn',
    networkMode: 'host',
    env,
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
      '/run/turnkey': `rw,noexec,nosuid,size=1m,mode=0700,uid=${COTURN_UID},gid=${COTURN_UID}`,
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

/** The service's variable and the secret file for the configured kind of Metered key. */
function meteredKeyFile(config: StackConfig): [string, string] {
  return config.meteredKey === 'meteredCredentialApiKey'
    ? ['TURN_CREDENTIAL_API_KEY', 'metered-credential-api-key']
    : ['TURN_API_KEY', 'metered-api-key'];
}

function serviceContainer(config: StackConfig, prefix: string): ContainerPlan {
  const files = [secretFile('apiToken', 'api-tokens')];
  const env: Record<string, string> = {
    TURN_PROVIDER: config.provider,
    TURN_TTL: String(config.credentialTtl),
    API_TOKENS_FILE: `${SECRETS_DIR}/api-tokens`,
    HOST: serviceBindHost(config),
    PORT: String(config.servicePort),
  };
  if (config.metricsHost) env.METRICS_HOST = config.metricsHost;
  if (config.metricsPort) env.METRICS_PORT = String(config.metricsPort);
  if (config.tls) {
    // The relay's certificate: the same name serves turns: and the API.
    files.push(secretFile('tlsCert', 'tls-cert.pem'), secretFile('tlsKey', 'tls-key.pem'));
    Object.assign(env, {
      TLS_CERT_FILE: `${SECRETS_DIR}/tls-cert.pem`,
      TLS_KEY_FILE: `${SECRETS_DIR}/tls-key.pem`,
    });
  }
  if (config.provider === 'coturn') {
    files.push(secretFile('turnSecret', 'turn-secret'));
    Object.assign(env, {
      TURN_SECRET_FILE: `${SECRETS_DIR}/turn-secret`,
      TURN_URLS: turnUris(config).join(','),
      STUN_URLS: stunUris(config).join(','),
      // Same host network as the relay: probe it directly, not through the public address.
      TURN_PROBE_URL: `turn:${hostInUri(probeHost(config))}:${config.turnPort}`,
    });
    if (config.hashUserIds) env.TURN_HASH_USER_IDS = 'true';
  } else if (config.provider === 'metered') {
    const [name, file] = meteredKeyFile(config);
    files.push(secretFile(config.meteredKey ?? 'meteredApiKey', file));
    Object.assign(env, {
      TURN_API_URL: config.meteredApiUrl as string,
      [`${name}_FILE`]: `${SECRETS_DIR}/${file}`,
    });
    // Minted credentials carry the relay's and stack's name, telling deployments on one
    // account apart (turnkey-<stack> for the stack's own relay).
    if (name === 'TURN_API_KEY') env.TURN_LABEL = prefix.slice(0, 99);
    if (config.meteredRegion) env.TURN_REGION = config.meteredRegion;
  } else if (config.stunUrls.length > 0) {
    env.STUN_URLS = config.stunUrls.join(',');
  }
  const bound = serviceBindHost(config);
  const target = `${hostInUri(isUnspecified(bound) ? '127.0.0.1' : bound)}:${config.servicePort}`;
  // With TLS the certificate names the public host, not this address; /healthz sends nothing
  // secret, so the check skips verification rather than fail on a private CA.
  const healthz = config.tls
    ? `require('node:https').get('https://${target}/healthz',{rejectUnauthorized:false},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))`
    : `fetch('http://${target}/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`;
  return {
    role: 'service',
    name: `${prefix}-credentials`,
    image: 'service',
    networkMode: 'host',
    env,
    files,
    restart: 'unless-stopped',
    healthcheck: { test: ['CMD', 'node', '-e', healthz], ...HEALTH_TIMING },
    logDriver: 'json-file',
    logOptions: LOG_OPTIONS,
    tmpfs: {},
    capabilities: { drop: ['ALL'], add: [] },
    securityOpts: ['no-new-privileges'],
    stopGraceSeconds: STOP_GRACE_SECONDS,
  };
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/;

export function planDeployment(config: StackConfig, opts: PlanOptions): DeploymentPlan {
  const { stack, projectRoot, name = 'turnkey' } = opts;
  if (!NAME.test(name))
    throw new Error(
      `a relay's name names its containers and images: use lowercase letters, digits and '-' (at most 42), got "${name}"`,
    );
  const prefix = `${name}-${stack}`;
  const platform = config.platform ?? DEFAULT_PLATFORM;
  const service: ImagePlan = {
    role: 'service',
    imageName: `${name}-credentials:${stack}`,
    dockerfile: join(projectRoot, 'service/Dockerfile'),
    context: projectRoot,
    buildArgs: config.nodeImage ? { NODE_IMAGE: config.nodeImage } : {},
    platform,
  };
  const images: ImagePlan[] = [service];
  const containers: ContainerPlan[] = [];
  const secrets: SecretName[] = ['apiToken'];

  if (config.provider === 'coturn') {
    images.unshift({
      role: 'coturn',
      imageName: `${name}-coturn:${stack}`,
      dockerfile: join(projectRoot, 'coturn/Dockerfile.coturn'),
      context: join(projectRoot, 'coturn'),
      buildArgs: config.coturnImage ? { COTURN_IMAGE: config.coturnImage } : {},
      platform,
    });
    containers.push(coturnContainer(config, prefix));
    secrets.push('turnSecret');
    if (config.secretGeneration > 1) secrets.push('previousTurnSecret');
  }
  if (config.tls) secrets.push('tlsCert', 'tlsKey');
  if (config.provider === 'metered') secrets.push(config.meteredKey ?? 'meteredApiKey');
  containers.push(serviceContainer(config, prefix));

  return {
    stack,
    provider: config.provider,
    secrets,
    images,
    containers,
    outputs: {
      iceServersUrl: iceServersUrl(config),
      provider: config.provider,
      turnUris: turnUris(config),
      stunUris: stunUris(config),
    },
  };
}
