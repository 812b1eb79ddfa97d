import { isIP } from 'node:net';
import {
  allowedPeerRangeProblem,
  bounds,
  CREDENTIAL_TTL,
  defaultNumber,
  defaultOf,
  isLoopback,
  isLoopbackOrPrivate,
  isProviderName,
  MAX_REALM_LENGTH,
  METERED_API_URL_PROBLEMS,
  METERED_REGION,
  meteredApiOrigin,
  PRIVATE_RANGES_TEXT,
  PROVIDERS,
  type ProviderName,
  parseRange,
  privateHalfProblem,
  RELAY_DEFAULTS,
  SECRET_STACK_KEYS,
  SERVICE_DEFAULTS,
  type StackKey,
  splitList,
} from '../../contract';
import { fail, StackConfigError, setCommand as set } from './errors';
import type { ConfigSource } from './source';

/**
 * The `turnkey:*` stack config, validated. Keys, defaults, bounds and which keys are secret
 * come from the settings table (contract/settings.ts); what is checked beyond a kind (addresses,
 * URLs, pairs of keys) is here. Pure (no Pulumi imports) so it can be tested directly; every
 * error names the key and the `pulumi config set` command that fixes it.
 */

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
  /** turnkey:allowedPeerIps: private CIDR ranges the relay may reach (private networks). */
  allowedPeerIps: string[];
  /** turnkey:relayAdminPort: the relay's admin CLI on 127.0.0.1 (revocations). */
  relayAdminPort: number;
  /** turnkey:fleetCaCert: the CA a fleet's services check each other's certificates with. */
  fleetCaCert?: string;
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
   * turnkey:acmeEmail and its companions: the service obtains and renews the certificate for
   * publicHost itself (tls is then true too, with no tlsCert/tlsKey).
   */
  acme?: AcmeConfig;
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
  /** turnkey:drainSeconds; unset: the plan's default for a single host or a fleet. */
  drainSeconds?: number;
  /** Base images, for registries mirrored under other names. */
  nodeImage?: string;
  coturnImage?: string;
  /** The Docker host's platform, e.g. linux/arm64; planDeployment defaults to linux/amd64. */
  platform?: string;
}

export interface AcmeConfig {
  email: string;
  directoryUrl: string;
  /** Where the service answers HTTP-01 (turnkey:acmeHttpPort). */
  httpPort: number;
  /** turnkey:acmeCaCert: the PEM bundle trusted for the directory's own HTTPS. */
  caCert?: string;
}

/**
 * What an unset key means, for the stack keys and for the component's args alike (the realm
 * defaults to publicHost: defaultRealm).
 */
export const STACK_DEFAULTS = {
  provider: defaultOf('provider') as ProviderName,
  servicePort: SERVICE_DEFAULTS.port,
  turnPort: RELAY_DEFAULTS.turnPort,
  tlsPort: RELAY_DEFAULTS.tlsPort,
  relayPorts: RELAY_DEFAULTS.relayPorts,
  credentialTtl: CREDENTIAL_TTL.default,
  stunUrls: [],
  listeningIps: [],
  allowedPeerIps: [],
  relayAdminPort: defaultNumber('relayAdminPort'),
  secretGeneration: defaultNumber('secretGeneration'),
} as const satisfies Partial<StackConfig>;

/** The realm for a public host: the host's name, or Coturn's default for an IP address. */
export const defaultRealm = (publicHost: string): string =>
  isIP(publicHost) ? RELAY_DEFAULTS.realm : publicHost;

/** Stack keys held encrypted (the settings table's secret stack keys). */
export const SECRET_KEYS = SECRET_STACK_KEYS;
const HOSTNAME =
  /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

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

/** A whole-number (or port) stack key within the settings table's bounds. */
function wholeNumber(src: ConfigSource, key: StackKey, fallback = defaultNumber(key)): number {
  const { min, max } = bounds(key);
  const port = max === 65_535 && min === 1;
  const what = port ? 'a port from 1 to 65535' : `a whole number from ${min} to ${max}`;
  const raw = src.get(key);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    fail(key, `must be ${what}, got "${raw}"`, String(fallback));
  }
  return Number(raw);
}

const DEFAULT_RELAY_PORTS = `${STACK_DEFAULTS.relayPorts.min}-${STACK_DEFAULTS.relayPorts.max}`;

function relayPorts(src: ConfigSource): { min: number; max: number } {
  const raw = src.get('relayPorts') ?? DEFAULT_RELAY_PORTS;
  const { min, max } = parseRange(raw) ?? { min: Number.NaN, max: Number.NaN };
  if (!(min >= 1024 && max <= 65535 && min <= max)) {
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
  const refused = publicHostProblem(raw);
  if (refused) fail(key, refused.problem, refused.instead);
  return raw;
}

const PORTS_ELSEWHERE = 'the ports are turnkey:turnPort, turnkey:tlsPort and turnkey:servicePort';

/**
 * Why `raw` cannot be a public host, and what to write instead; undefined when it can. The
 * forms refused are the ones people copy from elsewhere (a URL, `host:port`, a bracketed or
 * scoped IPv6 address): each would end up inside the URIs browsers get, which bracket IPv6
 * themselves (contract/ice-uris.ts hostInUri).
 */
function publicHostProblem(raw: string): { problem: string; instead: string } | undefined {
  const zone = raw.indexOf('%');
  if (zone < 0 && (isIP(raw) !== 0 || HOSTNAME.test(raw))) return undefined;
  const bracketed = /^\[([^\]]*)\](:\d+)?$/.exec(raw);
  if (bracketed && isIP(bracketed[1] as string) === 6 && !bracketed[1]?.includes('%'))
    return {
      problem: `is an IPv6 address in brackets${bracketed[2] ? ' with a port' : ''} ("${raw}"): write an IPv6 address without brackets${bracketed[2] ? ` or port (${PORTS_ELSEWHERE})` : ''}; turnkey adds the brackets in the URIs and URLs it hands out`,
      instead: bracketed[1] as string,
    };
  if (zone > 0 && isIP(raw.slice(0, zone)) === 6)
    return {
      problem: `is an IPv6 address with a zone id ("${raw}"), which names an interface of one machine and means nothing to a browser: write an IPv6 address without %zone that browsers reach, or a DNS name`,
      instead: /^fe[89ab]/i.test(raw) ? 'turn.example.com' : raw.slice(0, zone),
    };
  const hostPort = /^(.+):(\d{1,5})$/.exec(raw);
  const host = hostPort?.[1] as string;
  if (hostPort && (isIP(host) === 4 || HOSTNAME.test(host)))
    return {
      problem: `is host:port ("${raw}"): write the host alone; ${PORTS_ELSEWHERE}`,
      instead: host,
    };
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(raw)) {
    let urlHost = '';
    try {
      urlHost = new URL(raw).hostname.replace(/^\[|\]$/g, '');
    } catch {}
    return {
      problem: `is a URL ("${raw}"): write the host alone (a DNS name, an IPv4 address, or an IPv6 address without brackets), without scheme, port or path`,
      instead: publicHostProblem(urlHost) || urlHost === '' ? 'turn.example.com' : urlHost,
    };
  }
  return {
    problem: `must be a host name or IP address (a DNS name, an IPv4 address, or an IPv6 address without brackets), got "${raw}"`,
    instead: 'turn.example.com',
  };
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

/** An IP address's version, 4 or 6, or 0; a zone id (`fe80::1%eth0`) is no address of a NAT. */
const ipVersion = (ip: string): number => (ip.includes('%') ? 0 : isIP(ip));
const EXTERNAL_IP_EXAMPLE = '203.0.113.7/10.0.0.5';
/** A private half of the right version for an example command. */
const privateExample = (pub: string) => (ipVersion(pub) === 6 ? 'fd00::5' : '10.0.0.5');

/**
 * `PUBLIC/PRIVATE` under `key` (`externalIp`, or `relays[i].externalIp` in a fleet): one pair, or
 * two comma-separated, one per IP version (a host NATed 1:1 for IPv4 and for IPv6, as Azure
 * does). Coturn takes any number of `external-ip=PUBLIC/PRIVATE` lines, a mapping each
 * (mainrelay.c `case 'X'`, ns_turn_ioaddr.c ioa_addr_add_mapping), but this host has one
 * public address per version, and every private half is one more allowed peer. Returned with
 * blanks around the comma dropped, as EXTERNAL_IP takes it. coturn/entrypoint.sh
 * `external_ip_problem` applies the same rule.
 */
export function checkExternalIp(raw: string, key: string): string {
  const pairs = raw.split(',').map((p) => p.trim());
  const given = pairs.filter((p) => p !== '');
  if (given.length < pairs.length)
    fail(
      key,
      `has an empty entry ("${raw}"): write one PUBLIC/PRIVATE pair, or two separated by one comma (one IPv4, one IPv6)`,
      given.join(',') || EXTERNAL_IP_EXAMPLE,
    );
  if (pairs.length > 2)
    fail(
      key,
      `has ${pairs.length} pairs ("${raw}"): write at most two, one IPv4 PUBLIC/PRIVATE pair and one IPv6`,
      [4, 6]
        .flatMap((v) => pairs.find((p) => ipVersion(p.split('/')[0] as string) === v) ?? [])
        .join(',') || EXTERNAL_IP_EXAMPLE,
    );
  for (const pair of pairs) checkExternalIpPair(pair, pairs, raw, key);
  const [first, second] = pairs as [string, string?];
  const version = (pair: string) => ipVersion(pair.split('/')[0] as string);
  if (second !== undefined && version(first) === version(second))
    fail(
      key,
      `has two IPv${version(first)} pairs ("${raw}"): write one PUBLIC/PRIVATE pair per IP version, one IPv4 and one IPv6 (the NAT forwards one public address of each to this host)`,
      first,
    );
  return pairs.join(',');
}

function checkExternalIpPair(pair: string, pairs: string[], raw: string, key: string): void {
  const parts = pair.split('/');
  const [pub, priv] = parts as [string, string?];
  // The command that fixes it: this pair with a private half of its version, the other kept.
  const fixed = () =>
    pairs.map((p) => (p === pair ? `${pub}/${privateExample(pub)}` : p)).join(',');
  if (parts.length > 2 || ipVersion(pub) === 0 || priv?.includes('%'))
    fail(
      key,
      `must be PUBLIC/PRIVATE for 1:1 NAT, one pair or two comma-separated (one IPv4, one IPv6), got "${raw}"`,
      EXTERNAL_IP_EXAMPLE,
    );
  if (priv === undefined) {
    fail(
      key,
      `must be PUBLIC/PRIVATE, not the public IP alone ("${pair}"): with only the public address, Coturn maps relayed addresses back to this host's private one, which it refuses as a peer, so two clients relaying through it cannot reach each other. Give the private address the NAT forwards to (on a host that has the public address itself, unset turnkey:${key})`,
      fixed(),
    );
  }
  // By its form alone, so that a mistyped private half is named as such below.
  if ((ipVersion(pub) === 6) !== priv.includes(':'))
    fail(
      key,
      `has a pair that mixes IP versions ("${pair}"): each PUBLIC/PRIVATE pair must be of one IP version (an IPv4 and an IPv6 pair go comma-separated, like 203.0.113.7/10.0.0.5,2001:db8::7/fd00::5)`,
      fixed(),
    );
  const problem = privateHalfProblem(priv);
  if (problem) {
    fail(
      key,
      `has a private half (${priv}) that is ${problem}: Coturn lets clients relay to the private half before it checks its deny list, so it must be the one private address the NAT forwards to, in ${PRIVATE_RANGES_TEXT}`,
      fixed(),
    );
  }
}

/**
 * turnkey:allowedPeerIps, each entry checked as coturn/entrypoint.sh checks it (one rule:
 * contract/addresses.ts). `loopbackOnly`: the relay listens and relays on loopback alone.
 */
function allowedPeerIps(src: ConfigSource, loopbackOnly: boolean): string[] {
  const raw = src.get('allowedPeerIps');
  if (raw === undefined) return [];
  const ranges = splitList(raw);
  if (ranges.length === 0)
    fail('allowedPeerIps', `must be CIDR ranges, comma-separated, got "${raw}"`, '10.20.0.0/16');
  for (const range of ranges) {
    const problem = allowedPeerRangeProblem(range, loopbackOnly);
    if (problem)
      fail(
        'allowedPeerIps',
        `entry ${range} ${problem}`,
        ranges.filter((r) => r !== range).join(',') || '10.20.0.0/16',
      );
  }
  return ranges;
}

function listeningIps(src: ConfigSource): string[] {
  const raw = src.get('listeningIps');
  if (raw === undefined) return [];
  const ips = splitList(raw);
  const bad = ips.find((ip) => isIP(ip) === 0);
  if (bad !== undefined || ips.length === 0) {
    fail('listeningIps', `must be IP addresses, comma-separated, got "${raw}"`, '127.0.0.1');
  }
  return ips;
}

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
  if (!mayBePublic && !isLoopbackOrPrivate(raw))
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
    `${METERED_API_URL_PROBLEMS[checked.problem]}${checked.problem === 'not_a_url' ? `, got "${raw}"` : ''}`,
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

/** Base images and the build platform: a mirror's references, the Docker host's architecture. */
function readImages(src: ConfigSource, config: StackConfig): void {
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
}

function stunUrls(src: ConfigSource): string[] {
  const stun = src.get('stunUrls');
  if (stun === undefined) return [];
  const urls = stun
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = urls.find((u) => !/^stuns?:[^\s?#]+$/.test(u));
  if (bad) fail('stunUrls', `has "${bad}", not a stun: URI`, 'stun:stun.example.com:3478');
  return urls;
}

function readMetered(src: ConfigSource, config: StackConfig): void {
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

/** Both halves of the certificate or neither: one certificate serves HTTPS and turns:. */
function hasTls(src: ConfigSource): boolean {
  const hasCert = src.has('tlsCert');
  const hasKey = src.has('tlsKey');
  if (hasCert !== hasKey) {
    const missing = hasCert ? 'tlsKey' : 'tlsCert';
    throw new StackConfigError(
      `turnkey:${missing} is required when turnkey:${hasCert ? 'tlsCert' : 'tlsKey'} is set: run \`cat ${missing === 'tlsKey' ? 'key' : 'cert'}.pem | pulumi config set --secret turnkey:${missing}\``,
    );
  }
  return hasCert;
}

const EMAIL = /^[^\s@,;<>"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$/;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----/;

/**
 * turnkey:acmeEmail and its companions. One certificate source only: ACME's would be
 * overwritten by the supplied one or the other way round, so which to keep is the user's call.
 */
function readAcme(src: ConfigSource, config: StackConfig): AcmeConfig | undefined {
  const email = src.get('acmeEmail');
  if (email === undefined) {
    for (const key of ['acmeDirectoryUrl', 'acmeHttpPort', 'acmeCaCert'] as const)
      if (src.get(key) !== undefined)
        fail(
          'acmeEmail',
          `is required when turnkey:${key} is set (it turns ACME on)`,
          'ops@example.com',
        );
    return undefined;
  }
  if (config.tls)
    throw new StackConfigError(
      'turnkey:acmeEmail and turnkey:tlsCert/tlsKey are both set: keep one certificate source. For automatic certificates run `pulumi config rm turnkey:tlsCert && pulumi config rm turnkey:tlsKey`; to keep your own certificate run `pulumi config rm turnkey:acmeEmail`',
    );
  if (!EMAIL.test(email))
    fail('acmeEmail', `must be an e-mail address, got "${email}"`, 'ops@example.com');
  if (isIP(config.publicHost) !== 0)
    fail(
      'publicHost',
      `must be a DNS name with turnkey:acmeEmail (the CA certifies names, and HTTP-01 reaches the host through one), got the address ${config.publicHost}`,
      'turn.example.com',
    );
  const directoryUrl = src.get('acmeDirectoryUrl') ?? (defaultOf('acmeDirectoryUrl') as string);
  let url: URL | undefined;
  try {
    url = new URL(directoryUrl);
  } catch {}
  if (url?.protocol !== 'https:')
    fail(
      'acmeDirectoryUrl',
      `must be the https URL of an ACME directory (RFC 8555 requires HTTPS), got "${directoryUrl}"`,
      'https://acme-staging-v02.api.letsencrypt.org/directory',
    );
  const caCert = src.get('acmeCaCert');
  if (caCert !== undefined && !PEM_CERTIFICATE.test(caCert))
    throw new StackConfigError(
      'turnkey:acmeCaCert holds no PEM certificate (expected -----BEGIN CERTIFICATE-----): run `pulumi config set turnkey:acmeCaCert -- "$(cat ca.pem)"`',
    );
  return {
    email,
    directoryUrl,
    httpPort: wholeNumber(src, 'acmeHttpPort'),
    ...(caCert !== undefined ? { caCert } : {}),
  };
}

/** Where the service and its metrics bind: loopback or private unless encrypted. */
function readServiceListeners(src: ConfigSource, config: StackConfig): void {
  const serviceHost = bindAddress(
    src,
    'serviceHost',
    config.tls,
    'without TLS (turnkey:acmeEmail, or turnkey:tlsCert/tlsKey) the service speaks plain HTTP: the API token would cross a public network in clear',
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
    config.metricsPort = wholeNumber(src, 'metricsPort');
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
}

/**
 * Unset keeps the shipped turnserver.conf's value (the table's default, which a test holds
 * against the file). At least 1: turnserver reads 0 as "no limit". drainSeconds unset: the
 * plan's default for a single host or a fleet.
 */
function readRelayLimits(src: ConfigSource, config: StackConfig): void {
  for (const key of ['userQuota', 'totalQuota', 'maxBps'] as const) {
    if (src.get(key) !== undefined) config[key] = wholeNumber(src, key);
  }
  // No table default (it depends on the fleet); 600 is only the fix a bad value's error shows.
  if (src.get('drainSeconds') !== undefined)
    config.drainSeconds = wholeNumber(src, 'drainSeconds', 600);
  if (config.userQuota && config.totalQuota && config.userQuota > config.totalQuota)
    fail(
      'userQuota',
      `(${config.userQuota}) is more than turnkey:totalQuota (${config.totalQuota})`,
      String(config.totalQuota),
    );
}

/** On one host with host networking, no two listeners may share a port or sit in the relay range. */
function checkPortsApart(config: StackConfig): void {
  const { min, max } = config.relayPorts;
  const named: [string, number][] = [
    ['servicePort', config.servicePort],
    ['turnPort', config.turnPort],
    ...(config.metricsPort ? ([['metricsPort', config.metricsPort]] as [string, number][]) : []),
    ...(config.tls ? ([['tlsPort', config.tlsPort]] as [string, number][]) : []),
    ...(config.acme ? ([['acmeHttpPort', config.acme.httpPort]] as [string, number][]) : []),
  ];
  for (const [key, p] of named) {
    if (p >= min && p <= max)
      fail(
        key,
        `(${p}) lies inside turnkey:relayPorts (${min}-${max})`,
        String(key === 'servicePort' ? 8080 : key === 'acmeHttpPort' ? 80 : 3478),
      );
  }
  const seen = new Map<number, string>();
  for (const [key, p] of named) {
    const other = seen.get(p);
    if (other) fail(key, `(${p}) is the same port as turnkey:${other}`, String(p + 1));
    seen.set(p, key);
  }
}

/**
 * The single-host stack config from any key/value source: every key checked in the order a
 * user reads them, the first problem thrown as a StackConfigError naming the key and its fix.
 */
export function readStackConfig(src: ConfigSource): StackConfig {
  refusePlaintextSecrets(src);
  const provider = src.get('provider') ?? (defaultOf('provider') as string);
  if (!isProviderName(provider))
    fail('provider', `must be one of ${PROVIDERS.join(', ')}, got "${provider}"`, 'coturn');

  const host = publicHost(src);
  const realm = src.get('realm') ?? defaultRealm(host);
  if (!HOSTNAME.test(realm))
    fail('realm', `must be a domain-like name, got "${realm}"`, 'turn.example.com');
  if (realm.length > MAX_REALM_LENGTH) {
    const from = src.get('realm') === undefined ? ' (the default: turnkey:publicHost)' : '';
    fail(
      'realm',
      `must be at most ${MAX_REALM_LENGTH} characters, got ${realm.length}${from}: STUN carries the realm in every request and allows no more`,
      'turn.example.com',
    );
  }

  const config: StackConfig = {
    provider,
    publicHost: host,
    realm,
    servicePort: wholeNumber(src, 'servicePort'),
    turnPort: wholeNumber(src, 'turnPort'),
    tlsPort: wholeNumber(src, 'tlsPort'),
    relayPorts: relayPorts(src),
    credentialTtl: wholeNumber(src, 'credentialTtl'),
    stunUrls: [],
    listeningIps: listeningIps(src),
    allowedPeerIps: [],
    relayAdminPort: wholeNumber(src, 'relayAdminPort'),
    secretGeneration: wholeNumber(src, 'secretGeneration'),
    tls: false,
  };
  const ip = externalIp(src);
  if (ip) config.externalIp = ip;
  config.allowedPeerIps = allowedPeerIps(
    src,
    !ip && config.listeningIps.length > 0 && config.listeningIps.every(isLoopback),
  );
  readImages(src, config);
  config.stunUrls = stunUrls(src);
  if (provider === 'metered') readMetered(src, config);
  config.tls = hasTls(src);
  const acme = readAcme(src, config);
  if (acme) {
    config.acme = acme;
    config.tls = true;
  }
  readServiceListeners(src, config);
  readRelayLimits(src, config);
  const fleetCa = src.get('fleetCaCert');
  if (fleetCa !== undefined) {
    if (!PEM_CERTIFICATE.test(fleetCa))
      throw new StackConfigError(
        'turnkey:fleetCaCert holds no PEM certificate (expected -----BEGIN CERTIFICATE-----): run `pulumi config set turnkey:fleetCaCert -- "$(cat ca.pem)"`',
      );
    config.fleetCaCert = fleetCa;
  }
  if (provider === 'coturn') checkPortsApart(config);
  return config;
}
