import { BlockList, isIP } from 'node:net';
import {
  CREDENTIAL_TTL,
  isProviderName,
  METERED_REGION,
  meteredApiOrigin,
  PROVIDERS,
  type ProviderName,
  RELAY_DEFAULTS,
  SERVICE_DEFAULTS,
} from '../service/contract';

/**
 * The `turnkey:*` stack config, validated. Pure (no Pulumi imports) so it can be tested
 * directly; every error names the key and the `pulumi config set` command that fixes it.
 */

export class StackConfigError extends Error {
  override readonly name = 'StackConfigError';
}

export interface StackConfig {
  provider: ProviderName;
  /** Host or IP browsers use to reach the relay and the service. */
  publicHost: string;
  realm: string;
  /** PUBLIC/PRIVATE when the Docker host sits behind 1:1 NAT. */
  externalIp?: string;
  /**
   * Addresses Coturn listens and relays on, and the service binds (the first); empty means
   * all interfaces. The dev stack uses 127.0.0.1 so nothing is exposed beyond the machine.
   */
  listeningIps: string[];
  servicePort: number;
  turnPort: number;
  tlsPort: number;
  relayPorts: { min: number; max: number };
  credentialTtl: number;
  meteredApiUrl?: string;
  /**
   * Which secret key holds the Metered key (provider=metered): `meteredApiKey`, the account's
   * secret key (the service mints expiring credentials), or `meteredCredentialApiKey`, one
   * dashboard credential's apiKey (nothing minted). Unset means `meteredApiKey`.
   */
  meteredKey?: 'meteredApiKey' | 'meteredCredentialApiKey';
  /** Metered relay region for the ICE server list, e.g. `europe`. */
  meteredRegion?: string;
  /**
   * STUN URIs for provider=stun (coturn derives its own; Metered lists its own). Named as its
   * stack key (turnkey:stunUrls); in code past the config, ICE addresses are `…Uris`.
   */
  stunUrls: string[];
  /** Bump to rotate the TURN secret; Coturn keeps accepting the previous generation. */
  secretGeneration: number;
  /**
   * Whether turnkey:tlsCert and turnkey:tlsKey are set: the service then serves HTTPS, and
   * Coturn turns: on turnkey:tlsPort.
   */
  tls: boolean;
  /**
   * turnkey:serviceHost, the address the credential service binds. Unset: with TLS where
   * Coturn listens (all interfaces by default), without TLS 127.0.0.1. Without TLS only a
   * loopback or private address is accepted: the API token must not cross a public network
   * in clear.
   */
  serviceHost?: string;
  /** turnkey:metricsHost/metricsPort: the service's Prometheus listener (127.0.0.1:9464). */
  metricsHost?: string;
  metricsPort?: number;
  /** turnkey:hashUserIds: a keyed hash of each user id in TURN usernames, so the relay's log never names users. */
  hashUserIds?: boolean;
  /** turnkey:userQuota, totalQuota, maxBps: relay limits; unset keeps the shipped config's. */
  userQuota?: number;
  totalQuota?: number;
  maxBps?: number;
  /** Base images, for registries mirrored under other names. */
  nodeImage?: string;
  coturnImage?: string;
  /** The Docker host's platform, e.g. linux/arm64; planDeployment defaults to linux/amd64. */
  platform?: string;
}

/**
 * What an unset key means, for the stack keys and for the component's args alike (the realm
 * defaults to publicHost: defaultRealm).
 */
export const STACK_DEFAULTS = {
  provider: 'coturn',
  servicePort: SERVICE_DEFAULTS.port,
  turnPort: RELAY_DEFAULTS.turnPort,
  tlsPort: RELAY_DEFAULTS.tlsPort,
  relayPorts: RELAY_DEFAULTS.relayPorts,
  credentialTtl: CREDENTIAL_TTL.default,
  stunUrls: [],
  listeningIps: [],
  secretGeneration: 1,
} as const satisfies Partial<StackConfig>;

/** The realm for a public host: the host's name, or Coturn's default for an IP address. */
export const defaultRealm = (publicHost: string): string =>
  isIP(publicHost) ? RELAY_DEFAULTS.realm : publicHost;

export interface ConfigSource {
  /** A plain (non-secret) key's value, or undefined. */
  get(key: string): string | undefined;
  /** Whether a key is set at all (used for secret keys, whose values stay Outputs). */
  has(key: string): boolean;
  /**
   * Whether a set key was stored encrypted (`pulumi config set --secret`); sources that cannot
   * tell leave it out, and then nothing is refused.
   */
  isSecret?(key: string): boolean;
}

/**
 * A ConfigSource over plain values, keyed without the `turnkey:` prefix: what tests,
 * benchmarks and other programs use instead of Pulumi's config. `secretKeys` count as set
 * although their values live elsewhere (as Pulumi secrets).
 */
export function valuesSource(
  values: Readonly<Record<string, string>>,
  secretKeys: readonly string[] = [],
): ConfigSource {
  return {
    get: (key) => values[key],
    has: (key) => key in values || secretKeys.includes(key),
  };
}

export const SECRET_KEYS = [
  'meteredApiKey',
  'meteredCredentialApiKey',
  'tlsCert',
  'tlsKey',
] as const;
const HOSTNAME =
  /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** A key inside structured config (e.g. `relays[1].externalIp`) is set with `--path`. */
const set = (key: string, example: string, secret = false) =>
  /[[.]/.test(key)
    ? `pulumi config set ${secret ? '--secret ' : ''}--path 'turnkey:${key}' ${example}`
    : `pulumi config set ${secret ? '--secret ' : ''}turnkey:${key} ${example}`;

/** How to set each secret key: PEM files go in through stdin (a line break ends an argument). */
const SECRET_SETTERS: Partial<Record<string, string>> = {
  meteredApiKey: set('meteredApiKey', '<your Metered secret key>', true),
  meteredCredentialApiKey: set('meteredCredentialApiKey', '<the credential API key>', true),
  tlsCert: 'cat fullchain.pem | pulumi config set --secret turnkey:tlsCert',
  tlsKey: 'cat privkey.pem | pulumi config set --secret turnkey:tlsKey',
};

/** The CLI encrypts only keys whose names look like passwords; these must never sit in plaintext. */
function refusePlaintextSecrets(src: ConfigSource): void {
  for (const key of SECRET_KEYS) {
    if (src.isSecret && src.has(key) && !src.isSecret(key))
      throw new StackConfigError(
        `turnkey:${key} is stored in plaintext in Pulumi.<stack>.yaml: set it again encrypted: run \`${SECRET_SETTERS[key] ?? set(key, '<value>', true)}\``,
      );
  }
}

const PLATFORM = /^linux\/[a-z0-9]+(\/v[0-9]+)?$/;

/** A StackConfigError naming `key` and the `pulumi config set` that fixes it. */
export function fail(key: string, problem: string, example: string, secret = false): never {
  throw new StackConfigError(`turnkey:${key} ${problem}: run \`${set(key, example, secret)}\``);
}

function wholeNumber(
  src: ConfigSource,
  key: string,
  fallback: number,
  min: number,
  max: number,
  what = `a whole number from ${min} to ${max}`,
): number {
  const raw = src.get(key);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    fail(key, `must be ${what}, got "${raw}"`, String(fallback));
  }
  return Number(raw);
}

const port = (src: ConfigSource, key: string, fallback: number) =>
  wholeNumber(src, key, fallback, 1, 65535, 'a port from 1 to 65535');

const DEFAULT_RELAY_PORTS = `${STACK_DEFAULTS.relayPorts.min}-${STACK_DEFAULTS.relayPorts.max}`;

function relayPorts(src: ConfigSource): { min: number; max: number } {
  const raw = src.get('relayPorts') ?? DEFAULT_RELAY_PORTS;
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(raw);
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < 1024 || max > 65535 || min > max) {
    fail(
      'relayPorts',
      `must be a range MIN-MAX within 1024-65535, got "${raw}"`,
      DEFAULT_RELAY_PORTS,
    );
  }
  return { min, max };
}

function publicHost(src: ConfigSource): string {
  const raw = src.get('publicHost');
  if (raw === undefined)
    fail(
      'publicHost',
      'is required (the host or IP browsers use to reach the relay)',
      'turn.example.com',
    );
  return checkPublicHost(raw, 'publicHost');
}

/** A relay's public host under `key` (`publicHost`, or `relays[i].publicHost` in a fleet). */
export function checkPublicHost(raw: string, key: string): string {
  if (!isIP(raw) && !HOSTNAME.test(raw))
    fail(key, `must be a host name or IP address, got "${raw}"`, 'turn.example.com');
  return raw;
}

/**
 * Behind 1:1 NAT Coturn must know both addresses. With the public one alone (`external-ip=PUBLIC`)
 * it maps a peer at PUBLIC back to its relay address, which is private and so refused by the
 * deny list: two clients relaying through this server could not reach each other. The
 * PUBLIC/PRIVATE form also makes PRIVATE an allowed peer (src/apps/relay/mainrelay.c, -X), which
 * is what lets that relay-to-relay traffic through.
 */
function externalIp(src: ConfigSource): string | undefined {
  const raw = src.get('externalIp');
  return raw === undefined ? undefined : checkExternalIp(raw, 'externalIp');
}

/** `PUBLIC/PRIVATE` under `key` (`externalIp`, or `relays[i].externalIp` in a fleet). */
export function checkExternalIp(raw: string, key: string): string {
  const parts = raw.split('/');
  const example = '203.0.113.7/10.0.0.5';
  if (parts.length > 2 || !parts.every((p) => isIP(p) !== 0)) {
    fail(key, `must be PUBLIC/PRIVATE for 1:1 NAT, got "${raw}"`, example);
  }
  const [pub, priv] = parts as [string, string?];
  if (priv === undefined) {
    fail(
      key,
      `must be PUBLIC/PRIVATE, not the public IP alone ("${raw}"): with only the public address, Coturn maps relayed addresses back to this host's private one, which it refuses as a peer, so two clients relaying through it cannot reach each other. Give the private address the NAT forwards to (on a host that has the public address itself, unset turnkey:${key})`,
      `${pub}/10.0.0.5`,
    );
  }
  if (isIP(pub) !== isIP(priv))
    fail(key, `must be PUBLIC/PRIVATE of one IP version, got "${raw}"`, example);
  return raw;
}

function listeningIps(src: ConfigSource): string[] {
  const raw = src.get('listeningIps');
  if (raw === undefined) return [];
  const ips = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = ips.find((ip) => isIP(ip) === 0);
  if (bad !== undefined || ips.length === 0) {
    fail('listeningIps', `must be IP addresses, comma-separated, got "${raw}"`, '127.0.0.1');
  }
  return ips;
}

/** Loopback, RFC 1918, CGNAT (e.g. Tailscale) and IPv6 unique-local: not reachable from the internet. */
const PRIVATE = new BlockList();
PRIVATE.addSubnet('127.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4');
PRIVATE.addSubnet('100.64.0.0', 10, 'ipv4');
PRIVATE.addAddress('::1', 'ipv6');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');

const isPrivate = (ip: string) => PRIVATE.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');

/**
 * A bind address for a listener that speaks plain HTTP (the service without TLS, metrics):
 * one IP, and unless `mayBePublic`, a loopback or private one.
 */
function bindAddress(
  src: ConfigSource,
  key: string,
  mayBePublic: boolean,
  why: string,
): string | undefined {
  const raw = src.get(key);
  if (raw === undefined) return undefined;
  if (isIP(raw) === 0) fail(key, `must be one IP address, got "${raw}"`, '10.0.0.5');
  if (!mayBePublic && !isPrivate(raw))
    fail(key, `(${raw}) is not a loopback or private address, and ${why}`, '10.0.0.5');
  return raw;
}

function meteredApiUrl(src: ConfigSource): string {
  const raw = src.get('meteredApiUrl');
  if (raw === undefined)
    fail(
      'meteredApiUrl',
      'is required when turnkey:provider is metered',
      'https://yourapp.metered.live',
    );
  const checked = meteredApiOrigin(raw);
  if ('origin' in checked) return checked.origin;
  // The service refuses the same (TURN_API_URL).
  fail(
    'meteredApiUrl',
    {
      not_a_url: `is not a URL: "${raw}"`,
      not_https: 'must use https:// (http only for a loopback test server)',
      has_credentials: 'must not carry credentials (the key is turnkey:meteredApiKey)',
    }[checked.problem],
    'https://yourapp.metered.live',
  );
}

/** Metered's two kinds of key, each in its own secret key so they cannot be mixed up. */
function meteredKey(src: ConfigSource): 'meteredApiKey' | 'meteredCredentialApiKey' {
  const secret = src.has('meteredApiKey');
  const credential = src.has('meteredCredentialApiKey');
  if (secret && credential) {
    throw new StackConfigError(
      "turnkey:meteredApiKey and turnkey:meteredCredentialApiKey are both set: keep meteredApiKey for Metered's Secret Key (Dashboard → Developers; the service mints expiring credentials) or meteredCredentialApiKey for one credential's API Key (Dashboard → TURN Server; nothing minted): run `pulumi config rm turnkey:meteredCredentialApiKey` or `pulumi config rm turnkey:meteredApiKey`",
    );
  }
  if (credential) return 'meteredCredentialApiKey';
  if (!secret)
    fail(
      'meteredApiKey',
      "is required when turnkey:provider is metered (Metered's Secret Key, Dashboard → Developers; or set turnkey:meteredCredentialApiKey to one credential's API Key, Dashboard → TURN Server)",
      '<your Metered secret key>',
      true,
    );
  return 'meteredApiKey';
}

export function readStackConfig(src: ConfigSource): StackConfig {
  refusePlaintextSecrets(src);
  const provider = src.get('provider') ?? STACK_DEFAULTS.provider;
  if (!isProviderName(provider))
    fail('provider', `must be one of ${PROVIDERS.join(', ')}, got "${provider}"`, 'coturn');

  const host = publicHost(src);
  const realm = src.get('realm') ?? defaultRealm(host);
  if (!HOSTNAME.test(realm))
    fail('realm', `must be a domain-like name, got "${realm}"`, 'turn.example.com');

  const config: StackConfig = {
    provider,
    publicHost: host,
    realm,
    servicePort: port(src, 'servicePort', STACK_DEFAULTS.servicePort),
    turnPort: port(src, 'turnPort', STACK_DEFAULTS.turnPort),
    tlsPort: port(src, 'tlsPort', STACK_DEFAULTS.tlsPort),
    relayPorts: relayPorts(src),
    credentialTtl: wholeNumber(
      src,
      'credentialTtl',
      STACK_DEFAULTS.credentialTtl,
      CREDENTIAL_TTL.min,
      CREDENTIAL_TTL.max,
    ),
    stunUrls: [],
    listeningIps: listeningIps(src),
    secretGeneration: wholeNumber(
      src,
      'secretGeneration',
      STACK_DEFAULTS.secretGeneration,
      1,
      1_000_000,
    ),
    tls: false,
  };
  const ip = externalIp(src);
  if (ip) config.externalIp = ip;
  for (const key of ['nodeImage', 'coturnImage'] as const) {
    const image = src.get(key);
    if (image !== undefined) {
      if (!/^[a-z0-9][a-z0-9._\-/:@]*$/.test(image))
        fail(key, `is not an image reference: "${image}"`, 'registry.example.com/mirror/image:tag');
      config[key] = image;
    }
  }

  const platform = src.get('platform');
  if (platform !== undefined) {
    if (!PLATFORM.test(platform))
      fail(
        'platform',
        `must be the Docker host's OS/architecture, like linux/amd64 or linux/arm64, got "${platform}"`,
        'linux/arm64',
      );
    config.platform = platform;
  }

  const stun = src.get('stunUrls');
  if (stun !== undefined) {
    config.stunUrls = stun
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = config.stunUrls.find((u) => !/^stuns?:[^\s?#]+$/.test(u));
    if (bad) fail('stunUrls', `has "${bad}", not a stun: URI`, 'stun:stun.example.com:3478');
  }

  if (provider === 'metered') {
    config.meteredApiUrl = meteredApiUrl(src);
    const region = src.get('meteredRegion');
    if (region !== undefined) {
      // The service checks the same (TURN_REGION).
      if (!METERED_REGION.test(region))
        fail('meteredRegion', `must be a Metered region name, got "${region}"`, 'europe');
      config.meteredRegion = region;
    }
    config.meteredKey = meteredKey(src);
  }

  const hasCert = src.has('tlsCert');
  const hasKey = src.has('tlsKey');
  if (hasCert !== hasKey) {
    const missing = hasCert ? 'tlsKey' : 'tlsCert';
    throw new StackConfigError(
      `turnkey:${missing} is required when turnkey:${hasCert ? 'tlsCert' : 'tlsKey'} is set: run \`cat ${missing === 'tlsKey' ? 'key' : 'cert'}.pem | pulumi config set --secret turnkey:${missing}\``,
    );
  }
  // One certificate for both: the service's HTTPS (any provider) and Coturn's turns:.
  config.tls = hasCert;

  const serviceHost = bindAddress(
    src,
    'serviceHost',
    config.tls,
    'without turnkey:tlsCert/tlsKey the service speaks plain HTTP: the API token would cross a public network in clear',
  );
  if (serviceHost) config.serviceHost = serviceHost;
  const metricsHost = bindAddress(
    src,
    'metricsHost',
    false,
    'metrics are plain HTTP without authentication',
  );
  if (metricsHost) config.metricsHost = metricsHost;
  if (src.get('metricsPort') !== undefined) {
    config.metricsPort = port(src, 'metricsPort', SERVICE_DEFAULTS.metricsPort);
    if (config.metricsPort === config.servicePort)
      fail(
        'metricsPort',
        `(${config.metricsPort}) is the same port as turnkey:servicePort`,
        String(SERVICE_DEFAULTS.metricsPort),
      );
  }
  const hash = src.get('hashUserIds');
  if (hash !== undefined) {
    if (hash !== 'true' && hash !== 'false')
      fail('hashUserIds', `must be true or false, got "${hash}"`, 'true');
    config.hashUserIds = hash === 'true';
  }
  // At least 1: turnserver reads 0 as "no limit". maxBps is bytes per second per session;
  // below 8000 (64 kbit/s) not even audio gets through, which is a typo rather than a choice.
  const limits = [
    ['userQuota', 12, 1, 100_000],
    ['totalQuota', 1200, 1, 10_000_000],
    ['maxBps', 1_000_000, 8_000, 1_000_000_000],
  ] as const;
  for (const [key, example, min, max] of limits) {
    if (src.get(key) !== undefined) config[key] = wholeNumber(src, key, example, min, max);
  }
  if (config.userQuota && config.totalQuota && config.userQuota > config.totalQuota)
    fail(
      'userQuota',
      `(${config.userQuota}) is more than turnkey:totalQuota (${config.totalQuota})`,
      String(config.totalQuota),
    );

  if (provider === 'coturn') {
    const { min, max } = config.relayPorts;
    const named: [string, number][] = [
      ['servicePort', config.servicePort],
      ['turnPort', config.turnPort],
      ...(config.metricsPort ? ([['metricsPort', config.metricsPort]] as [string, number][]) : []),
      ...(config.tls ? ([['tlsPort', config.tlsPort]] as [string, number][]) : []),
    ];
    for (const [key, p] of named) {
      if (p >= min && p <= max)
        fail(
          key,
          `(${p}) lies inside turnkey:relayPorts (${min}-${max})`,
          String(key === 'servicePort' ? 8080 : 3478),
        );
    }
    const seen = new Map<number, string>();
    for (const [key, p] of named) {
      const other = seen.get(p);
      if (other) fail(key, `(${p}) is the same port as turnkey:${other}`, String(p + 1));
      seen.set(p, key);
    }
  }
  return config;
}
