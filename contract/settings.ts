/**
 * The one table of turnkey's settings: for each, its stack key (`turnkey:<name>`), the
 * environment variable(s) the credential service and the relay read, its default, bounds,
 * whether it is secret, and one line of doc. The stack reader (infra/stack/), the service's env
 * reader (service/config/), the containers' env types (contract/env.ts) and the reference
 * tables (docs/reference.md, README "Settings", written by `npm run docs`) all come from here,
 * so a new setting is one entry, and a name changed here alone fails `tsc` or `npm test`
 * wherever it is still spelt the old way.
 *
 * Names: the entry's name is the setting's one name in code too (StackConfig, the provider
 * options). Environment variables keep the names the containers' contract fixes
 * (design.md); `deprecated` lists old names still accepted, with a deprecation line.
 */

export const PROVIDERS = ['coturn', 'metered', 'stun'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export const isProviderName = (s: string): s is ProviderName =>
  (PROVIDERS as readonly string[]).includes(s);

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** How a value is read and checked; the readers share these checks. */
export type Kind =
  | { type: 'int'; min: number; max: number }
  | { type: 'port' }
  | { type: 'bool' }
  | { type: 'enum'; values: readonly string[] }
  /** Free text checked by the reader named in `doc` (hosts, URLs, images, …). */
  | { type: 'text' }
  /** Comma-separated. */
  | { type: 'list' }
  /** MIN-MAX. */
  | { type: 'range' }
  /** Structured config (`pulumi config set --path`) or JSON in the environment. */
  | { type: 'json' }
  /** A secret value: never logged; in the environment it may come from NAME_FILE. */
  | { type: 'secret' }
  /** A path to a file. */
  | { type: 'file' };

export interface Setting {
  /** Whether `turnkey:<name>` is a stack key (the component's args take the same name). */
  stack: boolean;
  /** The credential service's variable(s). */
  service?: readonly string[];
  /** The relay container's variable(s), read by coturn/entrypoint.sh. */
  relay?: readonly string[];
  kind: Kind;
  /** What an unset stack key (and, without `envDefault`, an unset variable) means. */
  default?: string | number | boolean;
  /** Where the variable's default differs from the stack key's, and why (`doc`). */
  envDefault?: string | number | boolean;
  /** Encrypted in stack config, never in env, args, logs or layers. */
  secret?: boolean;
  /** Old variable names still accepted (with a deprecation line), by the name that replaces them. */
  deprecated?: { readonly [oldName: string]: string };
  doc: string;
}

/** Coturn's own default ports and the range it relays from. */
const TURN_PORT = 3478;
const TLS_PORT = 5349;

export const SETTINGS = {
  // --- choosing the provider -----------------------------------------------------------------
  provider: {
    stack: true,
    service: ['TURN_PROVIDER'],
    kind: { type: 'enum', values: PROVIDERS },
    default: 'coturn',
    envDefault: 'stun',
    doc: 'coturn (your own relay), metered (Metered managed TURN) or stun (STUN only). A stack deploys coturn unless told otherwise; the service image run without TURN_PROVIDER is STUN-only, since it has no secret to sign with.',
  },
  // --- where the relay and the service are reached -------------------------------------------
  publicHost: {
    stack: true,
    kind: { type: 'text' },
    doc: 'Host name or IP address browsers use to reach the relay and the service (required): a DNS name, an IPv4 address, or an IPv6 address without brackets (the URIs and URLs handed out add them); not a URL, host:port or an IPv6 zone id. The URIs handed out and the certificate name it.',
  },
  realm: {
    stack: true,
    relay: ['TURN_REALM'],
    kind: { type: 'text' },
    default: 'turnkey',
    doc: 'Coturn realm, a domain-like name. The stack defaults it to publicHost when that is a name; the relay image to turnkey.',
  },
  externalIp: {
    stack: true,
    relay: ['EXTERNAL_IP'],
    kind: { type: 'text' },
    doc: 'PUBLIC/PRIVATE when the Docker host sits behind 1:1 NAT (a cloud VM): one pair, or an IPv4 and an IPv6 pair comma-separated where the NAT maps both (203.0.113.7/10.0.0.5,2001:db8::7/fd00::5). Each private half is the one private address the NAT forwards to (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 or fc00::/7); the public address alone is refused.',
  },
  listeningIps: {
    stack: true,
    relay: ['TURN_LISTENING_IPS', 'TURN_RELAY_IPS'],
    kind: { type: 'list' },
    doc: 'Addresses the relay listens and relays on, comma-separated (the service probes the first); unset means all interfaces.',
  },
  allowedPeerIps: {
    stack: true,
    relay: ['TURN_ALLOWED_PEER_IPS'],
    kind: { type: 'list' },
    doc: 'Private CIDR ranges (inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10) peers may be in although the deny list refuses them: a relay inside a VPC, office network or VPN. Anyone holding a credential can then relay to any UDP port there. Metadata, link-local, IPv6 unique-local, loopback (but on a loopback-only relay) and wider ranges are refused.',
  },
  servicePort: {
    stack: true,
    service: ['PORT'],
    kind: { type: 'port' },
    default: 8080,
    doc: "The credential service's port.",
  },
  serviceHost: {
    stack: true,
    service: ['HOST'],
    kind: { type: 'text' },
    default: '127.0.0.1',
    doc: 'Address the service binds. Without a certificate only a loopback or private address (plain HTTP carries the API token); with one, where the relay listens: every address of both families (::) unless listeningIps, 0.0.0.0 where the kernel has IPv6 off.',
  },
  turnPort: {
    stack: true,
    relay: ['TURN_PORT'],
    kind: { type: 'port' },
    default: TURN_PORT,
    doc: 'The relay listens for TURN and STUN here, over UDP and TCP.',
  },
  tlsPort: {
    stack: true,
    relay: ['TURN_TLS_PORT'],
    kind: { type: 'port' },
    default: TLS_PORT,
    doc: 'The relay listens for turns: (TLS) here, when a certificate is set.',
  },
  relayPorts: {
    stack: true,
    relay: ['TURN_RELAY_PORTS'],
    kind: { type: 'range' },
    default: '49152-65535',
    doc: 'UDP ports the relay allocates from, MIN-MAX within 1024-65535; the firewall must let them through.',
  },
  metricsHost: {
    stack: true,
    service: ['METRICS_HOST'],
    kind: { type: 'text' },
    default: '127.0.0.1',
    doc: "The service's Prometheus listener (plain HTTP, no token): loopback or private only.",
  },
  metricsPort: {
    stack: true,
    service: ['METRICS_PORT'],
    kind: { type: 'port' },
    default: 9464,
    doc: "The service's Prometheus listener's port, never the API's.",
  },
  // --- credentials ---------------------------------------------------------------------------
  credentialTtl: {
    stack: true,
    service: ['TURN_TTL'],
    // At least a minute, because browsers need time to gather and connect; at most a week,
    // because Coturn enforces no upper bound and this cap is the only one there is.
    kind: { type: 'int', min: 60, max: 7 * 86_400 },
    default: 86_400,
    doc: 'Seconds a minted credential lets a client allocate (a request may ask for less).',
  },
  hashUserIds: {
    stack: true,
    service: ['TURN_HASH_USER_IDS'],
    kind: { type: 'bool' },
    default: false,
    doc: "TURN usernames carry a keyed hash of the app's user id, so the relay's log never names users.",
  },
  secretGeneration: {
    stack: true,
    kind: { type: 'int', min: 1, max: 1_000_000 },
    default: 1,
    doc: 'Bump to rotate the TURN secret; the relay keeps accepting the previous generation.',
  },
  turnSecret: {
    stack: false,
    service: ['TURN_SECRET'],
    relay: ['TURN_SECRET'],
    kind: { type: 'secret' },
    secret: true,
    doc: 'The shared secret the service signs credentials with and the relay checks them with (generated by the stack).',
  },
  previousTurnSecret: {
    stack: false,
    service: ['TURN_SECRET_PREVIOUS'],
    relay: ['TURN_SECRET_PREVIOUS'],
    kind: { type: 'secret' },
    secret: true,
    doc: "Earlier secrets the relay still accepts, comma- or newline-separated (the stack sets the previous generation's). The service only passes them on to the relay (RELAY_SECRETS_DIR).",
  },
  relaySecretsDir: {
    stack: false,
    service: ['RELAY_SECRETS_DIR'],
    relay: ['RELAY_SECRETS_DIR'],
    kind: { type: 'text' },
    doc: "A directory the service writes the relay's files to at start: the TURN secrets and, with TLS, the certificate and key. The stack mounts one in-memory volume there, read-only in the relay, whose files these are, so a rotation or a new certificate reaches the running relay without replacing it; the relay waits up to a minute at start for the files named in it. Unset: nothing is written, nothing waited for.",
  },
  relayAdminPort: {
    stack: true,
    service: ['TURN_CLI_PORT'],
    relay: ['TURN_CLI_PORT'],
    kind: { type: 'port' },
    default: 5766,
    doc: "The relay's admin CLI port, on 127.0.0.1 only: the credential service ends a revoked user's sessions through it. Two relays on one host need two.",
  },
  relayAdminPassword: {
    stack: false,
    relay: ['TURN_CLI_PASSWORD_FILE'],
    kind: { type: 'file' },
    doc: "The admin CLI's password, as a file: the credential service makes one in RELAY_SECRETS_DIR (cli-password) unless one is there, so both containers always read the same. Unset: the relay runs no CLI.",
  },
  revocationsDir: {
    stack: false,
    service: ['REVOCATIONS_DIR'],
    kind: { type: 'text' },
    doc: 'Where the service keeps the active revocations (POST /v1/revocations), so a restarted or replaced service still refuses those users: the stack mounts a volume of its own there. Unset: in memory only.',
  },
  revocationPeers: {
    stack: false,
    service: ['REVOCATION_PEERS'],
    kind: { type: 'list' },
    doc: "The other fleet hosts' service origins (https://host:port), comma-separated: a revocation made on one host is passed on to each, with the same API token. The stack sets it for every host of turnkey:relays.",
  },
  fleetCaCert: {
    stack: true,
    service: ['PEER_CA_FILE'],
    kind: { type: 'text' },
    doc: "PEM bundle a fleet's services check each other's certificates against when passing a revocation on, for certificates from a private CA; unset: Node's public CAs. In the container, a file.",
  },
  apiTokens: {
    stack: false,
    service: ['API_TOKENS'],
    kind: { type: 'secret' },
    secret: true,
    doc: 'Bearer tokens the service accepts, comma-separated (several: rotation); at least 32 characters each. The stack generates one (output apiToken).',
  },
  // --- TLS -----------------------------------------------------------------------------------
  tlsCert: {
    stack: true,
    service: ['TLS_CERT_FILE'],
    relay: ['TURN_TLS_CERT_FILE'],
    kind: { type: 'secret' },
    secret: true,
    doc: 'PEM certificate chain for publicHost: serves turns: and the API over HTTPS (with tlsKey). In the containers, a file.',
  },
  tlsKey: {
    stack: true,
    service: ['TLS_KEY_FILE'],
    relay: ['TURN_TLS_KEY_FILE'],
    kind: { type: 'secret' },
    secret: true,
    doc: "The certificate's unencrypted PEM private key. In the containers, a file.",
  },
  // --- automatic certificates (ACME) ----------------------------------------------------------
  acmeEmail: {
    stack: true,
    service: ['ACME_EMAIL'],
    kind: { type: 'text' },
    doc: "Turns on automatic certificates: the service obtains one for publicHost from the ACME CA (HTTP-01 on acmeHttpPort), serves it on the API and turns:, and renews it with a third of its lifetime left; the CA's account is registered with this address (expiry notices). Not with tlsCert/tlsKey; publicHost must be a DNS name.",
  },
  acmeDirectoryUrl: {
    stack: true,
    service: ['ACME_DIRECTORY_URL'],
    kind: { type: 'text' },
    default: 'https://acme-v02.api.letsencrypt.org/directory',
    doc: "The ACME CA's directory (https). Default Let's Encrypt; its staging directory https://acme-staging-v02.api.letsencrypt.org/directory issues untrusted certificates without production rate limits, for a first try.",
  },
  acmeDomains: {
    stack: false,
    service: ['ACME_DOMAINS'],
    kind: { type: 'list' },
    doc: "Names the certificate is for, comma-separated; the first is its subject. The stack sets publicHost (each fleet host its own); the service's default is the host of its TURN URIs.",
  },
  acmeHttpPort: {
    stack: true,
    service: ['ACME_HTTP_PORT'],
    kind: { type: 'port' },
    default: 80,
    doc: 'The port the service answers HTTP-01 challenges on, on every address of the host (the CA asks port 80 of publicHost: another port only behind a proxy that forwards /.well-known/acme-challenge/ to it). It answers nothing else: every other request gets 404.',
  },
  acmeStateDir: {
    stack: false,
    service: ['ACME_STATE_DIR'],
    kind: { type: 'text' },
    doc: 'Where the account key and the certificate persist, so a restarted or replaced service neither registers again nor orders a new certificate (the stack mounts a volume of its own there). Keys are written 0600.',
  },
  acmeCaCert: {
    stack: true,
    service: ['ACME_CA_FILE'],
    kind: { type: 'text' },
    doc: "PEM bundle the service trusts for the ACME server's own HTTPS, for a private CA (e.g. step-ca) whose directory a public CA did not certify; unset: Node's public CAs. In the container, a file.",
  },
  // --- the relay's limits --------------------------------------------------------------------
  userQuota: {
    stack: true,
    relay: ['TURN_USER_QUOTA'],
    kind: { type: 'int', min: 1, max: 100_000 },
    default: 12,
    doc: 'Allocations one user id may hold at once on the relay, across all its credentials: every tab and call of that user counts (see docs/operations.md, Quotas).',
  },
  totalQuota: {
    stack: true,
    relay: ['TURN_TOTAL_QUOTA'],
    kind: { type: 'int', min: 1, max: 10_000_000 },
    default: 1200,
    doc: 'Allocations the relay holds at once in all.',
  },
  maxBps: {
    stack: true,
    relay: ['TURN_MAX_BPS'],
    // Below 8000 bytes/s (64 kbit/s) not even audio gets through: a typo rather than a choice.
    kind: { type: 'int', min: 8_000, max: 1_000_000_000 },
    default: 1_000_000,
    doc: 'Bytes per second one allocation may relay each way (the default carries a 1080p call).',
  },
  drainSeconds: {
    stack: true,
    // A day at most: pulumi up waits for the drain of each relay it replaces, host by host.
    kind: { type: 'int', min: 0, max: 86_400 },
    doc: 'How long a relay being replaced drains before it is stopped: new allocations refused (a fleet hands it out no more), calls in progress relayed until they end or this runs out. Default 15 on a single host (new calls have no relay while it drains) and 600 in a fleet of several hosts (the others take new calls).',
  },
  // --- STUN-only -----------------------------------------------------------------------------
  stunUrls: {
    stack: true,
    service: ['STUN_URLS'],
    kind: { type: 'list' },
    doc: 'STUN URIs handed out, comma-separated: for provider=stun (coturn hands out its own relay; Metered lists its own).',
  },
  // --- Metered -------------------------------------------------------------------------------
  meteredApiUrl: {
    stack: true,
    service: ['TURN_API_URL'],
    kind: { type: 'text' },
    doc: 'Your Metered app, e.g. https://yourapp.metered.live (https only; plain http only for a loopback test server).',
  },
  meteredApiKey: {
    stack: true,
    service: ['TURN_API_KEY'],
    kind: { type: 'secret' },
    secret: true,
    doc: "Metered's Secret Key (Dashboard → Developers): the service mints expiring credentials.",
  },
  meteredCredentialApiKey: {
    stack: true,
    service: ['TURN_CREDENTIAL_API_KEY'],
    kind: { type: 'secret' },
    secret: true,
    doc: "Instead of meteredApiKey: one credential's API Key (Dashboard → TURN Server); nothing is minted.",
  },
  meteredRegion: {
    stack: true,
    service: ['TURN_REGION'],
    kind: { type: 'text' },
    doc: "Metered's relay region for the ICE server list (global, europe, us_east, …); Metered's default if unset.",
  },
  meteredLabel: {
    stack: false,
    service: ['TURN_LABEL'],
    kind: { type: 'text' },
    default: 'turnkey',
    doc: 'Label on the credentials the service mints, 1-99 printable characters; the stack sets <relay>-<stack>.',
  },
  meteredTimeoutMs: {
    stack: false,
    service: ['TURN_API_TIMEOUT_MS'],
    kind: { type: 'int', min: 1, max: 60_000 },
    default: 5000,
    doc: "Milliseconds for each call to Metered's API.",
  },
  // --- a fleet -------------------------------------------------------------------------------
  relays: {
    stack: true,
    service: ['TURN_RELAYS'],
    kind: { type: 'json' },
    doc: "A fleet: a list of { name, dockerHost, publicHost, externalIp?, region, platform? } (pulumi config set --path); name is the relay's stable identity (its resources are named after it; only the first may omit it), platform that host's where it differs from platform. Each service gets every relay as JSON [{region, urls, probeUrl?}], its own first.",
  },
  defaultRegion: {
    stack: false,
    service: ['TURN_DEFAULT_REGION'],
    kind: { type: 'text' },
    doc: "A fleet: the region handed out when a request names none (the service's own host's); default the first relay's.",
  },
  // --- what the stack derives for the service ------------------------------------------------
  turnUrls: {
    stack: false,
    service: ['TURN_URLS'],
    kind: { type: 'list' },
    deprecated: { TURN_URL: 'TURN_URLS' },
    doc: "coturn: the relay's turn:/turns: URIs, comma-separated (the stack derives them from publicHost and the ports).",
  },
  probeUrl: {
    stack: false,
    service: ['TURN_PROBE_URL'],
    kind: { type: 'text' },
    doc: 'coturn: the plain turn: URI /readyz allocates on (the stack sets the relay on this host, not its public address).',
  },
  // --- the service process -------------------------------------------------------------------
  rateLimitPerMinute: {
    stack: false,
    service: ['RATE_LIMIT_PER_MINUTE'],
    kind: { type: 'int', min: 1, max: 1_000_000 },
    default: 60,
    doc: 'Requests per minute per API token and user id.',
  },
  tokenRateLimitPerMinute: {
    stack: false,
    service: ['RATE_LIMIT_PER_TOKEN_PER_MINUTE'],
    kind: { type: 'int', min: 1, max: 10_000_000 },
    default: 6000,
    doc: 'Requests per minute per API token across all user ids (per client address without API_TOKENS), so varying the user id cannot mint without bound.',
  },
  logLevel: {
    stack: false,
    service: ['LOG_LEVEL'],
    kind: { type: 'enum', values: LOG_LEVELS },
    default: 'info',
    doc: "The service's log level.",
  },
  // --- the relay process ---------------------------------------------------------------------
  relayMetricsAddress: {
    stack: false,
    relay: ['TURN_METRICS_ADDRESS'],
    kind: { type: 'text' },
    default: '127.0.0.1',
    doc: "The relay's Prometheus exporter address, where the turnserver build has one.",
  },
  relayMetricsPort: {
    stack: false,
    relay: ['TURN_METRICS_PORT'],
    kind: { type: 'port' },
    default: 9641,
    doc: "The relay's Prometheus exporter port.",
  },
  relayBaseConfig: {
    stack: false,
    relay: ['TURN_BASE_CONFIG'],
    kind: { type: 'file' },
    default: '/etc/coturn/turnserver.conf',
    doc: 'The shipped turnserver.conf the entrypoint starts from.',
  },
  relayExtraConfig: {
    stack: false,
    relay: ['TURN_EXTRA_CONFIG_FILE'],
    kind: { type: 'file' },
    doc: 'A file appended to the relay config last (lines here override the shipped ones).',
  },
  relayRuntimeDir: {
    stack: false,
    relay: ['TURN_RUNTIME_DIR'],
    kind: { type: 'file' },
    doc: "Where the entrypoint writes the relay's private config (the stack: a tmpfs); default a new directory under TMPDIR.",
  },
  turnserver: {
    stack: false,
    relay: ['TURNSERVER'],
    kind: { type: 'file' },
    default: 'turnserver',
    doc: 'The turnserver binary the entrypoint starts.',
  },
  // --- building the images -------------------------------------------------------------------
  nodeImage: {
    stack: true,
    kind: { type: 'text' },
    default: 'node:20-bookworm-slim',
    doc: "The service image's base (build arg NODE_IMAGE), for a mirror or an air-gapped host.",
  },
  coturnImage: {
    stack: true,
    kind: { type: 'text' },
    default: 'coturn/coturn:4.18.0',
    doc: "The relay image's base (build arg COTURN_IMAGE), for a mirror or an air-gapped host.",
  },
  platform: {
    stack: true,
    kind: { type: 'text' },
    default: 'linux/amd64',
    doc: "The Docker host's OS/architecture the images are built for, e.g. linux/arm64 (not the machine running Pulumi).",
  },
} as const satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;
type Entry<K extends SettingName> = (typeof SETTINGS)[K];

/** The names that are `turnkey:*` stack keys. */
export type StackKey = {
  [K in SettingName]: Entry<K>['stack'] extends true ? K : never;
}[SettingName];

/** Stack keys held encrypted (`pulumi config set --secret`). */
export type SecretStackKey = {
  [K in StackKey]: Entry<K> extends { secret: true } ? K : never;
}[StackKey];

type VarsOf<E, Side extends 'service' | 'relay'> = E extends { [S in Side]: readonly (infer V)[] }
  ? V
  : never;
type DeprecatedOf<E> = E extends { deprecated: infer D } ? keyof D & string : never;
/** Secrets may also come from NAME_FILE; certificates only ever as files. */
type FileFormsOf<E, V> = E extends { kind: { type: 'secret' } }
  ? V extends `${string}_FILE`
    ? never
    : V extends string
      ? `${V}_FILE`
      : never
  : never;

type SideVars<Side extends 'service' | 'relay'> = {
  [K in SettingName]:
    | VarsOf<Entry<K>, Side>
    | FileFormsOf<Entry<K>, VarsOf<Entry<K>, Side>>
    | (Side extends 'service' ? DeprecatedOf<Entry<K>> : never);
}[SettingName];

/** Every variable the credential service reads. */
export type ServiceVar = SideVars<'service'>;
/** Every variable the relay's entrypoint reads. */
export type RelayVar = SideVars<'relay'>;

export const STACK_KEYS = (Object.keys(SETTINGS) as SettingName[]).filter(
  (k): k is StackKey => SETTINGS[k].stack,
);
export const SECRET_STACK_KEYS = STACK_KEYS.filter(
  (k): k is SecretStackKey => 'secret' in SETTINGS[k] && SETTINGS[k].secret === true,
);

/** The bounds of a whole-number setting. */
export function bounds(name: SettingName): { min: number; max: number } {
  const kind: Kind = SETTINGS[name].kind;
  if (kind.type === 'port') return { min: 1, max: 65_535 };
  if (kind.type !== 'int') throw new Error(`setting ${name} is not a number`);
  return { min: kind.min, max: kind.max };
}

/** A setting's default as the stack reads it (`side` 'env': as the service or relay does). */
export function defaultOf(name: SettingName, side: 'stack' | 'env' = 'stack') {
  const s: Setting = SETTINGS[name];
  return side === 'env' && s.envDefault !== undefined ? s.envDefault : s.default;
}

/** A whole-number setting's default. */
export const defaultNumber = (name: SettingName): number => {
  const d = defaultOf(name);
  if (typeof d !== 'number') throw new Error(`setting ${name} has no numeric default`);
  return d;
};

/** The credential lifetime's bounds and default, which the providers also apply per request. */
export const CREDENTIAL_TTL = {
  ...bounds('credentialTtl'),
  default: defaultNumber('credentialTtl'),
} as const;

/** Where the service listens unless told otherwise (HOST/PORT, METRICS_HOST/METRICS_PORT). */
export const SERVICE_DEFAULTS = {
  host: defaultOf('serviceHost') as string,
  port: defaultNumber('servicePort'),
  metricsHost: defaultOf('metricsHost') as string,
  metricsPort: defaultNumber('metricsPort'),
} as const;

/**
 * STUN's REALM is "fewer than 128 characters" (RFC 8489 §14.9); coturn/entrypoint.sh refuses
 * a longer TURN_REALM too.
 */
export const MAX_REALM_LENGTH = 127;

/** What coturn/entrypoint.sh uses when a variable is unset (a test checks the script agrees). */
export const RELAY_DEFAULTS = {
  realm: defaultOf('realm') as string,
  turnPort: defaultNumber('turnPort'),
  tlsPort: defaultNumber('tlsPort'),
  relayPorts: parseRange(defaultOf('relayPorts') as string) as { min: number; max: number },
} as const;

/** MIN-MAX, or undefined when it is not two whole numbers. */
export function parseRange(raw: string): { min: number; max: number } | undefined {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(raw);
  return m ? { min: Number(m[1]), max: Number(m[2]) } : undefined;
}
