/**
 * The contract between the Pulumi plan (infra/deployment.ts), the credential service
 * (service/config.ts) and the relay's entrypoint (coturn/entrypoint.sh): the containers'
 * environment names, the provider names, bounds and defaults both sides apply, and the
 * container facts (uids, paths) the plan relies on. infra/ imports it from here, so it lives
 * in service/ (the service image's bundle includes what service/main.ts imports, nothing
 * from infra/). Plain data and pure functions only: no Node or Pulumi imports.
 *
 * The env objects are built as one typed literal each: a misspelt or renamed name on one side
 * fails `tsc` (the literal's excess-property check, or a reader's `keyof` parameter).
 */

export const PROVIDERS = ['coturn', 'metered', 'stun'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export const isProviderName = (s: string): s is ProviderName =>
  (PROVIDERS as readonly string[]).includes(s);

/**
 * Credential lifetime in seconds (turnkey:credentialTtl, TURN_TTL): at least a minute,
 * because browsers need time to gather and connect; at most a week, because Coturn enforces
 * no upper bound and this cap is the only one there is.
 */
export const CREDENTIAL_TTL = { min: 60, max: 7 * 86_400, default: 86_400 } as const;

/** Where the service listens unless told otherwise (HOST/PORT, METRICS_HOST/METRICS_PORT). */
export const SERVICE_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  metricsHost: '127.0.0.1',
  metricsPort: 9464,
} as const;

/** What coturn/entrypoint.sh uses when a variable is unset (a test checks the script agrees). */
export const RELAY_DEFAULTS = {
  realm: 'turnkey',
  turnPort: 3478,
  tlsPort: 5349,
  relayPorts: { min: 49152, max: 65535 },
} as const;

/**
 * uid and gid of the relay image's user (coturn/Dockerfile.coturn's `nobody:nogroup`): owns
 * its private tmpfs, and the tests run turnserver as it.
 */
export const COTURN_UID = 65534;
/** Where the plan writes secret files into each container. */
export const SECRETS_DIR = '/run/secrets';
/** The relay's tmpfs for its private config (TURN_RUNTIME_DIR). */
export const RELAY_RUNTIME_DIR = '/run/turnkey';

/** Metered's region names (global, europe, us_east, …); new ones need no change here. */
export const METERED_REGION = /^[a-z][a-z0-9_]{0,39}$/;

export type MeteredApiUrlProblem = 'not_a_url' | 'not_https' | 'has_credentials';

/**
 * The Metered app's origin, or why `raw` is refused. Both keys travel in this URL's query
 * string, so plain HTTP only where they cannot leave the host (a loopback test server).
 */
export function meteredApiOrigin(
  raw: string,
): { origin: string } | { problem: MeteredApiUrlProblem } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: 'not_a_url' };
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    return { problem: 'not_https' };
  if (url.username || url.password) return { problem: 'has_credentials' };
  return { origin: url.origin };
}

/** Secrets the service reads from NAME or from the file named by NAME_FILE. */
export type ServiceSecretVar =
  | 'TURN_SECRET'
  | 'API_TOKENS'
  | 'TURN_API_KEY'
  | 'TURN_CREDENTIAL_API_KEY';

/**
 * The credential service container's environment (README "Environment"). Every value is a
 * string as the process sees it; the planner leaves a name undefined to leave it unset.
 */
export type ServiceEnv = {
  TURN_PROVIDER?: ProviderName;
  TURN_TTL?: string;
  /** coturn */
  TURN_URLS?: string;
  TURN_URL?: string;
  TURN_PROBE_URL?: string;
  STUN_URLS?: string;
  TURN_HASH_USER_IDS?: 'true' | 'false';
  /** coturn, a fleet: every relay as JSON [{region, urls, probeUrl?}], instead of TURN_URLS */
  TURN_RELAYS?: string;
  TURN_DEFAULT_REGION?: string;
  /** metered */
  TURN_API_URL?: string;
  TURN_REGION?: string;
  TURN_LABEL?: string;
  TURN_API_TIMEOUT_MS?: string;
  /** the HTTP layer */
  RATE_LIMIT_PER_MINUTE?: string;
  HOST?: string;
  PORT?: string;
  TLS_CERT_FILE?: string;
  TLS_KEY_FILE?: string;
  METRICS_HOST?: string;
  METRICS_PORT?: string;
  LOG_LEVEL?: string;
} & { [K in ServiceSecretVar | `${ServiceSecretVar}_FILE`]?: string };

export type ServiceVar = keyof ServiceEnv;

/** The relay container's environment, read by coturn/entrypoint.sh (see its header). */
export type RelayEnv = {
  TURN_SECRET?: string;
  TURN_SECRET_FILE?: string;
  TURN_SECRET_PREVIOUS?: string;
  TURN_SECRET_PREVIOUS_FILE?: string;
  TURN_REALM?: string;
  TURN_PORT?: string;
  TURN_TLS_PORT?: string;
  TURN_TLS_CERT_FILE?: string;
  TURN_TLS_KEY_FILE?: string;
  /** MIN-MAX */
  TURN_RELAY_PORTS?: string;
  TURN_USER_QUOTA?: string;
  TURN_TOTAL_QUOTA?: string;
  TURN_MAX_BPS?: string;
  /** PUBLIC/PRIVATE */
  EXTERNAL_IP?: string;
  TURN_LISTENING_IPS?: string;
  TURN_RELAY_IPS?: string;
  TURN_METRICS_ADDRESS?: string;
  TURN_METRICS_PORT?: string;
  TURN_BASE_CONFIG?: string;
  TURN_EXTRA_CONFIG_FILE?: string;
  TURN_RUNTIME_DIR?: string;
  TURNSERVER?: string;
};

/**
 * An env object as a container gets it: the names that are set, each with its value. Their
 * order means nothing to the Docker provider (its `env` is a set: kreuzwerker
 * terraform-provider-docker, resource_docker_container.go, TypeSet with HashString).
 */
export function definedEnv(env: ServiceEnv | RelayEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value;
  return out;
}
