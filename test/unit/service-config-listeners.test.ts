import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../service/config';

const COTURN = {
  TURN_PROVIDER: 'coturn',
  TURN_SECRET: 'coturn-secret-value-9f8e7d6c5b4a3210',
  TURN_URLS: 'turn:relay.example.com:3478?transport=udp',
  API_TOKENS: 'a'.repeat(40),
};

describe('METRICS_HOST / METRICS_PORT', () => {
  it('default to a loopback listener on 9464, apart from the API', () => {
    const c = loadConfig({ HOST: '10.0.0.5', PORT: '443' });
    expect([c.metricsHost, c.metricsPort]).toEqual(['127.0.0.1', 9464]);
  });

  it('take another address and port (0: any free port)', () => {
    const c = loadConfig({ METRICS_HOST: '10.0.0.5', METRICS_PORT: '0' });
    expect([c.metricsHost, c.metricsPort]).toEqual(['10.0.0.5', 0]);
  });

  it('refuse a port that is no port', () => {
    expect(() => loadConfig({ METRICS_PORT: '70000' })).toThrow(
      /^METRICS_PORT must be a whole number from 0 to 65535/,
    );
  });
});

describe('TURN_HASH_USER_IDS', () => {
  it('is off unless set to true', () => {
    const hashed = (env: Record<string, string>) => {
      const p = loadConfig({ ...COTURN, ...env }).providerConfig;
      return p.provider === 'coturn' && p.hashUserIds;
    };
    expect(hashed({})).toBe(false);
    expect(hashed({ TURN_HASH_USER_IDS: 'false' })).toBe(false);
    expect(hashed({ TURN_HASH_USER_IDS: 'true' })).toBe(true);
  });

  it('refuses anything but true or false', () => {
    expect(() => loadConfig({ ...COTURN, TURN_HASH_USER_IDS: 'yes' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...COTURN, TURN_HASH_USER_IDS: 'yes' })).toThrow(
      /^TURN_HASH_USER_IDS must be true or false, got "yes"/,
    );
  });
});
