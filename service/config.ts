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
    }
  | {
      provider: 'metered';
      apiUrl: string;
      apiKey: string;
      ttl: number;
      timeoutMs: number;
    };

export interface ServiceConfig {
  providerConfig: ProviderConfig;
  host: string;
  port: number;
  /** Empty only for the STUN-only provider, which hands out nothing secret. */
  apiTokens: string[];
  /** Requests per minute per API token and user. */
  rateLimitPerMinute: number;
  logLevel: string;
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
  // The secret key travels in this URL's query string; plain HTTP only where it cannot leave the host.
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
      };
    }
    case 'metered': {
      const apiUrl = meteredApiUrl(env);
      const apiKey = readSecret(env, 'TURN_API_KEY');
      if (apiKey === undefined) {
        throw new ConfigError(
          'TURN_API_KEY is required when TURN_PROVIDER=metered: set TURN_API_KEY (or TURN_API_KEY_FILE) to your Metered secret key',
        );
      }
      const timeoutMs = wholeNumber(env, 'TURN_API_TIMEOUT_MS', 5000, 60_000);
      return { provider, apiUrl, apiKey, ttl, timeoutMs };
    }
  }
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
  return {
    providerConfig: providerConfig(env, provider, ttl),
    host: present(env, 'HOST') ?? '127.0.0.1',
    // 0 picks a free port, for tests and benchmarks.
    port: wholeNumber(env, 'PORT', 8080, 65_535, 0),
    apiTokens: apiTokens(env, provider),
    rateLimitPerMinute: wholeNumber(env, 'RATE_LIMIT_PER_MINUTE', 60, 1_000_000),
    logLevel,
  };
}
