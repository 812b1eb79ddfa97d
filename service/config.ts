import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseIceUri, splitList, stunUrisFromTurn } from './ice-uris';
import type { ProviderName } from './providers/types';

/**
 * The service's environment contract (see README "Environment"). Every problem is a
 * ConfigError whose message names the variable and how to fix it, and never its value.
 */

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export type ProviderConfig =
  | { provider: 'stun'; stunUrls: string[]; ttl: number }
  | {
      provider: 'coturn';
      secret: string;
      turnUrls: string[];
      stunUrls: string[];
      ttl: number;
      probeUrl?: string;
      /** TURN_HASH_USER_IDS: a keyed hash of the user id in the TURN username, not the id. */
      hashUserIds: boolean;
    }
  | ({
      provider: 'metered';
      apiUrl: string;
      ttl: number;
      timeoutMs: number;
      /** Metered region for the ICE server list (TURN_REGION); Metered's default if unset. */
      region?: string;
      /** Label on minted credentials (TURN_LABEL). */
      label: string;
    } & MeteredKey);

/**
 * Metered's two kinds of key, never interchangeable: the account's secret key (mints and
 * deletes credentials) or one credential's apiKey (only lists that credential's ICE servers).
 */
export type MeteredKey = { secretKey: string } | { credentialApiKey: string };

export interface ServiceConfig {
  providerConfig: ProviderConfig;
  host: string;
  port: number;
  /** Empty only for the STUN-only provider, which hands out nothing secret. */
  apiTokens: string[];
  /** Requests per minute per API token and user. */
  rateLimitPerMinute: number;
  logLevel: string;
  /** PEM chain and key from TLS_CERT_FILE / TLS_KEY_FILE: then HTTPS only. */
  tls?: { cert: string; key: string };
  /** The Prometheus listener, never the API's. */
  metricsHost: string;
  metricsPort: number;
}

type Env = Record<string, string | undefined>;

export const DEFAULT_TTL_SECONDS = 86_400;
/** A token shorter than this is guessable; `openssl rand -hex 32` gives 64 characters. */
export const MIN_TOKEN_LENGTH = 32;
const PROVIDERS: ProviderName[] = ['coturn', 'metered', 'stun'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function present(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/**
 * A secret from NAME or from the file named by NAME_FILE (as Docker and the Pulumi
 * program provide it), so the value need not sit in the container's environment.
 */
export function readSecret(env: Env, name: string): string | undefined {
  const direct = present(env, name);
  const file = present(env, `${name}_FILE`);
  if (direct !== undefined && file !== undefined) {
    throw new ConfigError(`${name} and ${name}_FILE are both set: keep only one`);
  }
  if (file === undefined) return direct;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`${name}_FILE names a file that cannot be read (${code}): ${file}`);
  }
  const value = text.trim();
  if (value === '') throw new ConfigError(`${name}_FILE names an empty file: ${file}`);
  return value;
}

function wholeNumber(env: Env, name: string, fallback: number, max: number, min = 1): number {
  const raw = present(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return Number(raw);
}

function iceUris(env: Env, name: string, schemes: string[]): string[] {
  const raw = present(env, name);
  if (raw === undefined) return [];
  const list = splitList(raw);
  for (const uri of list) {
    let scheme: string;
    try {
      scheme = parseIceUri(uri).scheme;
    } catch (err) {
      throw new ConfigError(`${name}: ${(err as Error).message}`);
    }
    if (!schemes.includes(scheme)) {
      throw new ConfigError(
        `${name}: "${uri}" must use ${schemes.map((s) => `${s}:`).join(' or ')}`,
      );
    }
  }
  return list;
}

function turnUrls(env: Env): string[] {
  const many = iceUris(env, 'TURN_URLS', ['turn', 'turns']);
  const one = iceUris(env, 'TURN_URL', ['turn', 'turns']);
  if (many.length > 0 && one.length > 0) {
    throw new ConfigError('TURN_URLS and TURN_URL are both set: keep only TURN_URLS');
  }
  const urls = many.length > 0 ? many : one;
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
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      `TURN_API_URL is not a URL: "${raw}" (expected e.g. https://yourapp.metered.live)`,
    );
  }
  // Both keys travel in this URL's query string; plain HTTP only where they cannot leave the host.
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new ConfigError(
      'TURN_API_URL must use https:// (plain http is accepted only for loopback test servers)',
    );
  }
  if (url.username || url.password) {
    throw new ConfigError('TURN_API_URL must not carry credentials: put the key in TURN_API_KEY');
  }
  return url.origin;
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

/** Metered's region names (global, europe, us_east, …); new ones need no change here. */
function meteredRegion(env: Env): string | undefined {
  const raw = present(env, 'TURN_REGION');
  if (raw !== undefined && !/^[a-z][a-z0-9_]{0,39}$/.test(raw)) {
    throw new ConfigError(
      `TURN_REGION must be a Metered region name such as global, europe or us_east, got "${raw}"`,
    );
  }
  return raw;
}

function meteredLabel(env: Env): string {
  const raw = present(env, 'TURN_LABEL') ?? 'turnkey';
  // Metered: "a string of less than 100 characters".
  if (raw.length > 99 || !/^[\x20-\x7e]+$/.test(raw)) {
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

function providerConfig(env: Env, provider: ProviderName, ttl: number): ProviderConfig {
  // Metered's own list already carries its STUN servers.
  const stunUrls = provider === 'metered' ? [] : iceUris(env, 'STUN_URLS', ['stun', 'stuns']);
  switch (provider) {
    case 'stun':
      return { provider, stunUrls, ttl };
    case 'coturn': {
      const secret = readSecret(env, 'TURN_SECRET');
      if (secret === undefined) {
        throw new ConfigError(
          'TURN_SECRET is required when TURN_PROVIDER=coturn: set TURN_SECRET (or TURN_SECRET_FILE) to the secret Coturn uses as static-auth-secret',
        );
      }
      const turn = turnUrls(env);
      // Coturn answers STUN on its TURN listeners, so no third-party STUN server is needed.
      const stun = stunUrls.length > 0 ? stunUrls : stunUrisFromTurn(turn.map(parseIceUri));
      const [probeUrl] = iceUris(env, 'TURN_PROBE_URL', ['turn']);
      return {
        provider,
        secret,
        turnUrls: turn,
        stunUrls: stun,
        ttl,
        ...(probeUrl ? { probeUrl } : {}),
        hashUserIds: flag(env, 'TURN_HASH_USER_IDS'),
      };
    }
    case 'metered': {
      const apiUrl = meteredApiUrl(env);
      const key = meteredKey(env);
      const timeoutMs = wholeNumber(env, 'TURN_API_TIMEOUT_MS', 5000, 60_000);
      const region = meteredRegion(env);
      const label = meteredLabel(env);
      return {
        provider,
        apiUrl,
        ttl,
        timeoutMs,
        ...(region ? { region } : {}),
        label,
        ...key,
      };
    }
  }
}

function flag(env: Env, name: string): boolean {
  const raw = present(env, name)?.toLowerCase() ?? 'false';
  if (raw !== 'true' && raw !== 'false') {
    throw new ConfigError(`${name} must be true or false, got "${raw}"`);
  }
  return raw === 'true';
}

/**
 * TLS_CERT_FILE and TLS_KEY_FILE, both or neither; parsed here so that a wrong file stops
 * start-up with a line naming it instead of failing each handshake later.
 */
function tlsConfig(env: Env): { cert: string; key: string } | undefined {
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
  const cert = readSecret({ TLS_CERT_FILE: certFile }, 'TLS_CERT') as string;
  const key = readSecret({ TLS_KEY_FILE: keyFile }, 'TLS_KEY') as string;
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new ConfigError(
      `TLS_CERT_FILE holds no PEM certificate (expected -----BEGIN CERTIFICATE-----, e.g. fullchain.pem): ${certFile}`,
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new ConfigError(
      `TLS_KEY_FILE holds no unencrypted PEM private key (e.g. privkey.pem; remove a passphrase with openssl pkey): ${keyFile}`,
    );
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError(
      `TLS_KEY_FILE is not the key of the certificate in TLS_CERT_FILE: give the key the certificate was issued for (${keyFile})`,
    );
  }
  return { cert, key };
}

export function loadConfig(env: Env): ServiceConfig {
  const rawProvider = present(env, 'TURN_PROVIDER')?.toLowerCase() ?? 'stun';
  if (!PROVIDERS.includes(rawProvider as ProviderName)) {
    throw new ConfigError(
      `TURN_PROVIDER must be one of ${PROVIDERS.join(', ')} (or unset for stun), got "${rawProvider}"`,
    );
  }
  const provider = rawProvider as ProviderName;
  const ttl = wholeNumber(env, 'TURN_TTL', DEFAULT_TTL_SECONDS, 7 * 86_400);
  if (ttl < 60) throw new ConfigError(`TURN_TTL must be at least 60 seconds, got ${ttl}`);
  const logLevel = present(env, 'LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  // 0 picks a free port, for tests and benchmarks.
  const port = wholeNumber(env, 'PORT', 8080, 65_535, 0);
  const metricsPort = wholeNumber(env, 'METRICS_PORT', 9464, 65_535, 0);
  if (metricsPort !== 0 && metricsPort === port) {
    throw new ConfigError(
      `METRICS_PORT must differ from PORT (${port}): metrics never share the API's listener`,
    );
  }
  const tls = tlsConfig(env);
  return {
    providerConfig: providerConfig(env, provider, ttl),
    host: present(env, 'HOST') ?? '127.0.0.1',
    port,
    apiTokens: apiTokens(env, provider),
    rateLimitPerMinute: wholeNumber(env, 'RATE_LIMIT_PER_MINUTE', 60, 1_000_000),
    logLevel,
    ...(tls ? { tls } : {}),
    metricsHost: present(env, 'METRICS_HOST') ?? '127.0.0.1',
    metricsPort,
  };
}
