import {
  METERED_API_URL_PROBLEMS,
  METERED_LABEL,
  METERED_REGION,
  meteredApiOrigin,
  type ProviderName,
  parseIceUri,
  SERVICE_DEFAULTS,
  splitList,
  stunUrisFromTurn,
} from '../../contract';
import type { MeteredKey, ProviderConfig } from '../providers/create';
import { redactUrl } from '../providers/redact';
import { type AcmeSettings, readAcmeSettings } from './acme';
import { ConfigError } from './errors';
import { readFleetEnv } from './fleet';
import { checkPlainHttpHost } from './listen-host';
import {
  type Env,
  flag,
  iceUriList,
  oneOf,
  present,
  presentSetting,
  readSecret,
  readVarFile,
  wholeNumber,
} from './read';
import { type RelaySecretsConfig, readRelaySecrets } from './relay-secrets';
import { type RevocationSettings, readRevocationSettings } from './revocations';
import { checkTlsPair } from './tls-pair';
import { readTurnSecret } from './turn-secret';

/**
 * Reads the service's environment (contract/settings.ts; docs/reference.md). Every problem is a
 * ConfigError whose message names the variable and how to fix it, and never its value.
 */

export type { MeteredKey, ProviderConfig } from '../providers/create';
export type { AcmeSettings } from './acme';
export { ConfigError } from './errors';
export type { RelaySecretsConfig } from './relay-secrets';

export interface ServiceConfig {
  providerConfig: ProviderConfig;
  host: string;
  port: number;
  /** Empty only for the STUN-only provider, which hands out nothing secret. */
  apiTokens: string[];
  /** Requests per minute per API token and user. */
  rateLimitPerMinute: number;
  /** Requests per minute per API token across user ids (per client address without tokens). */
  tokenRateLimitPerMinute: number;
  logLevel: string;
  /**
   * PEM chain and key from TLS_CERT_FILE / TLS_KEY_FILE (the files' paths too, watched for a
   * renewal): then HTTPS only.
   */
  tls?: { cert: string; key: string; certFile: string; keyFile: string };
  /**
   * ACME_EMAIL and its companions: the certificate comes from an ACME CA (start.ts obtains it
   * before listening, then `tls` holds it as with TLS_CERT_FILE). Never with TLS_CERT_FILE.
   */
  acme?: AcmeSettings;
  /** TURN_SECRET_FILE's path with the coturn provider, watched for a rotation. */
  turnSecretFile?: string;
  /** The Prometheus listener, never the API's. */
  metricsHost: string;
  metricsPort: number;
  /** Deprecated variable names that were used, one line each for the log. */
  deprecations: string[];
  /** RELAY_SECRETS_DIR: the relay's files the service writes at start. */
  relaySecrets?: RelaySecretsConfig;
  revocations: RevocationSettings;
}

/** A token shorter than this is guessable; `openssl rand -hex 32` gives 64 characters. */
export const MIN_TOKEN_LENGTH = 32;

export { readSecret } from './read';

function turnUris(env: Env, deprecations: string[]): string[] {
  const urls = iceUriList('TURN_URLS', presentSetting(env, 'turnUrls', deprecations), [
    'turn',
    'turns',
  ]);
  if (urls.length === 0) {
    throw new ConfigError(
      'TURN_URLS is required when TURN_PROVIDER=coturn: set it to your relay, e.g. turn:turn.example.com:3478?transport=udp,turn:turn.example.com:3478?transport=tcp',
    );
  }
  if (!urls.some((u) => u.startsWith('turn:'))) {
    throw new ConfigError(
      'TURN_URLS needs at least one plain turn: URI (readiness allocates on it)',
    );
  }
  return urls;
}

function meteredApiUrl(env: Env): string {
  const raw = present(env, 'TURN_API_URL');
  if (raw === undefined) {
    throw new ConfigError(
      'TURN_API_URL is required when TURN_PROVIDER=metered: set it to your Metered app, e.g. https://yourapp.metered.live',
    );
  }
  const checked = meteredApiOrigin(raw);
  if ('origin' in checked) return checked.origin;
  const fix =
    checked.problem === 'has_credentials'
      ? ': put the key in TURN_API_KEY'
      : `: got "${redactUrl(raw)}" (query and user info not shown)`;
  throw new ConfigError(`TURN_API_URL ${METERED_API_URL_PROBLEMS[checked.problem]}${fix}`);
}

const SECRET_KEY_HELP =
  "TURN_API_KEY (or TURN_API_KEY_FILE) for Metered's Secret Key (Dashboard → Developers: turnkey mints expiring credentials)";
const CREDENTIAL_KEY_HELP =
  'TURN_CREDENTIAL_API_KEY (or TURN_CREDENTIAL_API_KEY_FILE) for the API Key of one credential (Dashboard → TURN Server: nothing is minted)';

function meteredKey(env: Env): MeteredKey {
  const secretKey = readSecret(env, 'TURN_API_KEY');
  const credentialApiKey = readSecret(env, 'TURN_CREDENTIAL_API_KEY');
  if (secretKey !== undefined && credentialApiKey !== undefined) {
    throw new ConfigError(
      `TURN_API_KEY and TURN_CREDENTIAL_API_KEY are both set: keep one, ${SECRET_KEY_HELP}, or ${CREDENTIAL_KEY_HELP}`,
    );
  }
  if (secretKey !== undefined) return { secretKey };
  if (credentialApiKey !== undefined) return { credentialApiKey };
  throw new ConfigError(
    `TURN_API_KEY is required when TURN_PROVIDER=metered: set ${SECRET_KEY_HELP}, or instead ${CREDENTIAL_KEY_HELP}`,
  );
}

function meteredRegion(env: Env): string | undefined {
  const raw = present(env, 'TURN_REGION');
  if (raw !== undefined && !METERED_REGION.test(raw)) {
    throw new ConfigError(
      `TURN_REGION must be a Metered region name such as global, europe or us_east, got "${raw}"`,
    );
  }
  return raw;
}

function meteredLabel(env: Env): string {
  const raw = present(env, 'TURN_LABEL') ?? 'turnkey';
  if (!METERED_LABEL.test(raw)) {
    throw new ConfigError(
      `TURN_LABEL must be 1-99 printable ASCII characters, e.g. turnkey-prod, got "${raw.slice(0, 120)}"`,
    );
  }
  return raw;
}

function apiTokens(env: Env, provider: ProviderName): string[] {
  const raw = readSecret(env, 'API_TOKENS');
  if (raw === undefined) {
    if (provider === 'stun') return [];
    throw new ConfigError(
      `API_TOKENS is required when TURN_PROVIDER=${provider}: set it to one or more comma-separated tokens, e.g. from \`openssl rand -hex 32\``,
    );
  }
  const tokens = splitList(raw);
  if (tokens.length === 0) throw new ConfigError('API_TOKENS lists no token');
  for (const [i, t] of tokens.entries()) {
    if (t.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(t)) {
      throw new ConfigError(
        `API_TOKENS entry ${i + 1} is too weak: use at least ${MIN_TOKEN_LENGTH} printable characters without spaces, e.g. \`openssl rand -hex 32\``,
      );
    }
  }
  return tokens;
}

function providerConfig(
  env: Env,
  provider: ProviderName,
  credentialTtl: number,
  deprecations: string[],
): ProviderConfig {
  // Metered's own list already carries its STUN servers.
  const stunUris =
    provider === 'metered'
      ? []
      : iceUriList('STUN_URLS', present(env, 'STUN_URLS'), ['stun', 'stuns']);
  switch (provider) {
    case 'stun':
      return { provider, stunUris, credentialTtl };
    case 'coturn': {
      const secret = readTurnSecret(env);
      if (secret === undefined) {
        throw new ConfigError(
          'TURN_SECRET is required when TURN_PROVIDER=coturn: set TURN_SECRET (or TURN_SECRET_FILE) to the secret Coturn uses as static-auth-secret',
        );
      }
      const hashUserIds = flag(env, 'hashUserIds');
      const fleet = readFleetEnv(env);
      if (fleet) {
        const first = fleet.relays[0]?.urls ?? [];
        return {
          provider,
          secret,
          turnUris: first,
          stunUris: stunUrisFromTurn(first.map(parseIceUri)),
          credentialTtl,
          hashUserIds,
          fleet,
        };
      }
      const turn = turnUris(env, deprecations);
      // Coturn answers STUN on its TURN listeners, so no third-party STUN server is needed.
      const stun = stunUris.length > 0 ? stunUris : stunUrisFromTurn(turn.map(parseIceUri));
      const [probeUrl] = iceUriList('TURN_PROBE_URL', present(env, 'TURN_PROBE_URL'), ['turn']);
      return {
        provider,
        secret,
        turnUris: turn,
        stunUris: stun,
        credentialTtl,
        ...(probeUrl ? { probeUrl } : {}),
        hashUserIds,
      };
    }
    case 'metered': {
      const apiUrl = meteredApiUrl(env);
      const key = meteredKey(env);
      const timeoutMs = wholeNumber(env, 'meteredTimeoutMs');
      const region = meteredRegion(env);
      const label = meteredLabel(env);
      return {
        provider,
        apiUrl,
        credentialTtl,
        timeoutMs,
        ...(region ? { region } : {}),
        label,
        ...key,
      };
    }
  }
}

/**
 * TLS_CERT_FILE and TLS_KEY_FILE, both or neither; parsed here so that a wrong file stops
 * start-up with a line naming it instead of failing each handshake later.
 */
function tlsConfig(env: Env): ServiceConfig['tls'] {
  const certFile = present(env, 'TLS_CERT_FILE');
  const keyFile = present(env, 'TLS_KEY_FILE');
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    const [given, missing] = certFile
      ? ['TLS_CERT_FILE', 'TLS_KEY_FILE']
      : ['TLS_KEY_FILE', 'TLS_CERT_FILE'];
    throw new ConfigError(
      `${missing} is required when ${given} is set: set both (the PEM certificate chain and its private key) to serve HTTPS, or neither`,
    );
  }
  // Only the _FILE forms: PEM text does not belong in the environment.
  const cert = readVarFile('TLS_CERT_FILE', certFile);
  const key = readVarFile('TLS_KEY_FILE', keyFile);
  const checked = checkTlsPair(cert, key);
  if (!checked.ok) throw new ConfigError(`${checked.variable} ${checked.problem}`);
  return { cert, key, certFile, keyFile };
}

export function loadConfig(env: Env): ServiceConfig {
  const deprecations: string[] = [];
  const provider = oneOf(env, 'provider') as ProviderName;
  const credentialTtl = wholeNumber(env, 'credentialTtl');
  const logLevel = oneOf(env, 'logLevel');
  // 0 picks a free port, for tests and benchmarks.
  const port = wholeNumber(env, 'servicePort', 0);
  const metricsPort = wholeNumber(env, 'metricsPort', 0);
  if (metricsPort !== 0 && metricsPort === port) {
    throw new ConfigError(
      `METRICS_PORT must differ from PORT (${port}): metrics never share the API's listener`,
    );
  }
  const providers = providerConfig(env, provider, credentialTtl, deprecations);
  const acme = readAcmeSettings(env, providers);
  const tls = tlsConfig(env);
  // Read (and checked) by providerConfig; only the coturn provider signs with it.
  const turnSecretFile = provider === 'coturn' ? present(env, 'TURN_SECRET_FILE') : undefined;
  const host = present(env, 'HOST') ?? SERVICE_DEFAULTS.host;
  if (!tls && !acme) checkPlainHttpHost(host);
  const relaySecrets = readRelaySecrets(env, tls);
  return {
    providerConfig: providers,
    ...(acme ? { acme } : {}),
    host,
    port,
    apiTokens: apiTokens(env, provider),
    rateLimitPerMinute: wholeNumber(env, 'rateLimitPerMinute'),
    tokenRateLimitPerMinute: wholeNumber(env, 'tokenRateLimitPerMinute'),
    logLevel,
    ...(tls ? { tls } : {}),
    ...(turnSecretFile ? { turnSecretFile } : {}),
    metricsHost: present(env, 'METRICS_HOST') ?? SERVICE_DEFAULTS.metricsHost,
    metricsPort,
    deprecations,
    ...(relaySecrets ? { relaySecrets } : {}),
    revocations: readRevocationSettings(env),
  };
}
