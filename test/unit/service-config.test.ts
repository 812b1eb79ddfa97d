import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../service/config';

const TOKEN = 'a'.repeat(40);
const SECRET = 'coturn-secret-value-9f8e7d6c5b4a3210';
const COTURN = {
  TURN_PROVIDER: 'coturn',
  TURN_SECRET: SECRET,
  TURN_URLS: 'turn:relay.example.com:3478?transport=udp',
  API_TOKENS: TOKEN,
};
const METERED = {
  TURN_PROVIDER: 'metered',
  TURN_API_URL: 'https://app.metered.live',
  TURN_API_KEY: 'metered-key-123',
  API_TOKENS: TOKEN,
};

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig defaults', () => {
  it('is STUN-only on loopback:8080 with no variables at all', () => {
    const c = loadConfig({});
    expect(c.providerConfig).toEqual({ provider: 'stun', stunUris: [], credentialTtl: 86_400 });
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(8080);
    expect(c.apiTokens).toEqual([]);
  });

  it('derives STUN URIs from the TURN URIs for coturn', () => {
    const c = loadConfig({
      ...COTURN,
      TURN_URLS: 'turn:r.example.com:3478?transport=udp,turns:r.example.com:5349',
    });
    expect(c.providerConfig).toMatchObject({
      provider: 'coturn',
      stunUris: ['stun:r.example.com:3478'],
    });
  });

  it('takes TURN_PROBE_URL for readiness, apart from the URIs handed out', () => {
    const c = loadConfig({ ...COTURN, TURN_PROBE_URL: 'turn:127.0.0.1:3478' });
    expect(c.providerConfig).toMatchObject({
      probeUrl: 'turn:127.0.0.1:3478',
      turnUris: [COTURN.TURN_URLS],
    });
  });

  it('accepts TURN_URL for a single URI and several API tokens for rotation', () => {
    const { TURN_URLS: _, ...rest } = COTURN;
    const c = loadConfig({
      ...rest,
      TURN_URL: 'turn:r.example.com',
      API_TOKENS: `${TOKEN}, ${'b'.repeat(40)}`,
    });
    expect(c.providerConfig).toMatchObject({ turnUris: ['turn:r.example.com'] });
    expect(c.apiTokens).toEqual([TOKEN, 'b'.repeat(40)]);
  });

  it('reads the deprecated TURN_URL and notes the rename for the log, which TURN_URLS does not', () => {
    const { TURN_URLS: _, ...rest } = COTURN;
    expect(loadConfig({ ...rest, TURN_URL: 'turn:r.example.com' }).deprecations).toEqual([
      'TURN_URL is deprecated: rename it to TURN_URLS (same value)',
    ]);
    expect(loadConfig(COTURN).deprecations).toEqual([]);
  });
});

describe('loadConfig for metered', () => {
  it('takes the secret key (mint mode) with the region and a label', () => {
    expect(
      loadConfig({ ...METERED, TURN_REGION: 'europe', TURN_LABEL: 'turnkey-prod' }).providerConfig,
    ).toEqual({
      provider: 'metered',
      apiUrl: 'https://app.metered.live',
      secretKey: 'metered-key-123',
      credentialTtl: 86_400,
      timeoutMs: 5000,
      region: 'europe',
      label: 'turnkey-prod',
    });
  });

  it('takes a credential apiKey instead (list-only mode), labelled turnkey by default', () => {
    const { TURN_API_KEY: _, ...rest } = METERED;
    expect(loadConfig({ ...rest, TURN_CREDENTIAL_API_KEY: 'cred-key' }).providerConfig).toEqual({
      provider: 'metered',
      apiUrl: 'https://app.metered.live',
      credentialApiKey: 'cred-key',
      credentialTtl: 86_400,
      timeoutMs: 5000,
      label: 'turnkey',
    });
  });
});

describe('loadConfig errors name the variable and the fix', () => {
  it.each([
    [{ TURN_PROVIDER: 'twilio' }, /^TURN_PROVIDER must be one of coturn, metered, stun/],
    [
      { ...COTURN, TURN_SECRET: '' },
      /^TURN_SECRET is required when TURN_PROVIDER=coturn: set TURN_SECRET/,
    ],
    [{ ...COTURN, TURN_URLS: '' }, /^TURN_URLS is required when TURN_PROVIDER=coturn: set it to/],
    [{ ...COTURN, TURN_URLS: 'turn://bad' }, /^TURN_URLS: "turn:\/\/bad" is not a STUN\/TURN URI/],
    [
      { ...COTURN, TURN_URLS: 'stun:relay.example.com' },
      /^TURN_URLS: "stun:relay.example.com" must use turn: or turns:/,
    ],
    [
      { ...COTURN, TURN_URLS: 'turns:relay.example.com' },
      /^TURN_URLS needs at least one plain turn: URI/,
    ],
    [{ ...COTURN, TURN_URL: 'turn:x' }, /^TURN_URLS and TURN_URL are both set/],
    [{ ...COTURN, API_TOKENS: '' }, /^API_TOKENS is required when TURN_PROVIDER=coturn/],
    [{ ...COTURN, API_TOKENS: 'short' }, /^API_TOKENS entry 1 is too weak/],
    [{ ...COTURN, API_TOKENS: ',,' }, /^API_TOKENS lists no token/],
    [{ ...COTURN, STUN_URLS: 'turn:x' }, /^STUN_URLS: "turn:x" must use stun: or stuns:/],
    [
      { ...COTURN, TURN_PROBE_URL: 'turns:127.0.0.1' },
      /^TURN_PROBE_URL: "turns:127.0.0.1" must use turn:/,
    ],
    [{ ...COTURN, TURN_TTL: '1h' }, /^TURN_TTL must be a whole number from 60 to 604800, got "1h"/],
    [{ ...COTURN, TURN_TTL: '30' }, /^TURN_TTL must be a whole number from 60 to 604800, got "30"/],
    [{ ...COTURN, TURN_TTL: '604801' }, /^TURN_TTL must be a whole number from 60 to 604800/],
    [{ ...COTURN, PORT: '70000' }, /^PORT must be a whole number from 0 to 65535/],
    [{ ...COTURN, RATE_LIMIT_PER_MINUTE: '-1' }, /^RATE_LIMIT_PER_MINUTE must be a whole number/],
    [{ ...COTURN, LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of/],
    [{ ...METERED, TURN_API_URL: '' }, /^TURN_API_URL is required when TURN_PROVIDER=metered/],
    [{ ...METERED, TURN_API_URL: 'yourapp' }, /^TURN_API_URL is not a URL/],
    [{ ...METERED, TURN_API_URL: 'http://app.metered.live' }, /^TURN_API_URL must use https:\/\//],
    [
      { ...METERED, TURN_API_URL: 'https://u:p@app.metered.live' },
      /^TURN_API_URL must not carry credentials/,
    ],
    [
      { ...METERED, TURN_API_KEY: '' },
      /^TURN_API_KEY is required when TURN_PROVIDER=metered: set TURN_API_KEY \(or TURN_API_KEY_FILE\) for Metered's Secret Key \(Dashboard → Developers: turnkey mints expiring credentials\), or instead TURN_CREDENTIAL_API_KEY \(or TURN_CREDENTIAL_API_KEY_FILE\) for the API Key of one credential \(Dashboard → TURN Server: nothing is minted\)$/,
    ],
    [
      { ...METERED, TURN_CREDENTIAL_API_KEY: 'credential-key' },
      /^TURN_API_KEY and TURN_CREDENTIAL_API_KEY are both set: keep one, TURN_API_KEY .*Secret Key.*, or TURN_CREDENTIAL_API_KEY .*API Key of one credential/,
    ],
    [
      { ...METERED, TURN_REGION: 'Europe West' },
      /^TURN_REGION must be a Metered region name such as global, europe or us_east, got "Europe West"$/,
    ],
    [{ ...METERED, TURN_LABEL: 'x'.repeat(100) }, /^TURN_LABEL must be 1-99 printable ASCII/],
    [{ ...METERED, TURN_API_TIMEOUT_MS: '0' }, /^TURN_API_TIMEOUT_MS must be a whole number/],
    [{ ...METERED, API_TOKENS: '' }, /^API_TOKENS is required when TURN_PROVIDER=metered/],
  ])('%j', (env, message) => {
    expect(configError(env as Record<string, string>)).toMatch(message);
  });

  it('never echoes a secret value in the message', () => {
    const msg = configError({ ...COTURN, TURN_SECRET_FILE: '/x', API_TOKENS: 'tok-short-secret' });
    expect(msg).not.toContain(SECRET);
    expect(configError({ ...COTURN, API_TOKENS: 'tok-short-secret' })).not.toContain(
      'tok-short-secret',
    );
  });
});

describe('secrets from *_FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'turnkey-config-'));

  it('reads TURN_SECRET_FILE, API_TOKENS_FILE and TURN_API_KEY_FILE, trimming the newline', () => {
    writeFileSync(join(dir, 'secret'), `${SECRET}\n`);
    writeFileSync(join(dir, 'tokens'), `${TOKEN}\n`);
    const { TURN_SECRET: _s, API_TOKENS: _t, ...rest } = COTURN;
    const c = loadConfig({
      ...rest,
      TURN_SECRET_FILE: join(dir, 'secret'),
      API_TOKENS_FILE: join(dir, 'tokens'),
    });
    expect(c.providerConfig).toMatchObject({ secret: SECRET });
    expect(c.apiTokens).toEqual([TOKEN]);

    writeFileSync(join(dir, 'key'), 'metered-key-from-file\n');
    const { TURN_API_KEY: _k, ...m } = METERED;
    expect(loadConfig({ ...m, TURN_API_KEY_FILE: join(dir, 'key') }).providerConfig).toMatchObject({
      secretKey: 'metered-key-from-file',
    });
    writeFileSync(join(dir, 'credential'), 'credential-api-key\n');
    expect(
      loadConfig({ ...m, TURN_CREDENTIAL_API_KEY_FILE: join(dir, 'credential') }).providerConfig,
    ).toMatchObject({ credentialApiKey: 'credential-api-key' });
  });

  it('names the variable when the file is missing or empty, or both forms are set', () => {
    writeFileSync(join(dir, 'empty'), '\n');
    expect(
      configError({ ...COTURN, TURN_SECRET: '', TURN_SECRET_FILE: join(dir, 'nope') }),
    ).toMatch(/^TURN_SECRET_FILE names a file that cannot be read \(ENOENT\)/);
    expect(
      configError({ ...COTURN, TURN_SECRET: '', TURN_SECRET_FILE: join(dir, 'empty') }),
    ).toMatch(/^TURN_SECRET_FILE names an empty file/);
    expect(configError({ ...COTURN, TURN_SECRET_FILE: join(dir, 'empty') })).toMatch(
      /^TURN_SECRET and TURN_SECRET_FILE are both set/,
    );
  });
});
