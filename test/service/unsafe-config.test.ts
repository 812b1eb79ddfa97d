import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../service/config';
import { startService } from '../../service/start';
import { certificateDir, makeCertificate, removeCertificates } from '../helpers/certificates';
import { randomToken } from '../helpers/service';

/**
 * Configurations that would leave the service weak or exposed stop start-up (startService, as
 * service/main.ts runs it) with a line naming the variable and the fix, and never its value.
 */

afterAll(removeCertificates);

const BASE = { PORT: '0', METRICS_PORT: '0', LOG_LEVEL: 'silent' };
const coturn = (secret: string) => ({
  ...BASE,
  HOST: '127.0.0.1',
  TURN_PROVIDER: 'coturn',
  TURN_SECRET: secret,
  TURN_URLS: 'turn:127.0.0.1:3478',
  API_TOKENS: randomToken(),
});

async function startError(env: Record<string, string>): Promise<string> {
  const err = await startService(env).then(
    async (running) => {
      await running.close();
      return new Error('the service started');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return (err as Error).message;
}

async function starts(env: Record<string, string>): Promise<void> {
  const running = await startService(env);
  await running.close();
}

describe('TURN_SECRET: what the relay accepts, at least 32 characters', () => {
  it('refuses a secret shorter than 32 characters, naming TURN_SECRET and `openssl rand -hex 32`', async () => {
    for (const secret of ['x', randomToken().slice(0, 16), randomToken().slice(0, 31)]) {
      const msg = await startError(coturn(secret));
      expect(msg).toMatch(
        /^TURN_SECRET is too short: use at least 32 characters, e\.g\. `openssl rand -hex 32`/,
      );
      if (secret.length > 1) expect(msg).not.toContain(secret);
    }
    await starts(coturn('c'.repeat(32)));
  });

  it('refuses what the relay would refuse: other characters, a leading =, more than 256', async () => {
    const cases: [string, RegExp][] = [
      [
        `${'d'.repeat(40)} space`,
        /^TURN_SECRET may contain only letters, digits and \. _ ~ \+ \/ = -/,
      ],
      [`${'e'.repeat(40)}$`, /^TURN_SECRET may contain only letters, digits/],
      [`=${'f'.repeat(40)}`, /^TURN_SECRET must not start with '='/],
      ['g'.repeat(257), /^TURN_SECRET is too long: use at most 256 characters/],
    ];
    for (const [secret, message] of cases) {
      const msg = await startError(coturn(secret));
      expect(msg).toMatch(message);
      expect(msg).not.toContain(secret.trim());
    }
    // Base64 and hex, as `openssl rand` makes them.
    await starts(coturn('Ab0._~+/=-'.repeat(4)));
    await starts(coturn('h'.repeat(256)));
  });
});

describe('HOST without TLS: never a wildcard or public address (bearer tokens in clear)', () => {
  const stun = (host: string) => ({ ...BASE, HOST: host, TURN_PROVIDER: 'stun' });

  it('refuses 0.0.0.0 and :: (the image sets HOST=0.0.0.0), naming HOST and the fix', async () => {
    for (const host of ['0.0.0.0', '::']) {
      expect(await startError(stun(host))).toMatch(
        new RegExp(
          `^HOST=${host.replace(/\./g, '\\.')} listens on every interface, and without TLS_CERT_FILE and TLS_KEY_FILE the service speaks plain HTTP: .*set TLS_CERT_FILE and TLS_KEY_FILE to serve HTTPS, or HOST to a loopback or private address \\(e\\.g\\. HOST=127\\.0\\.0\\.1`,
        ),
      );
    }
  });

  it('refuses a public address or a host name, naming HOST and the fix', async () => {
    for (const host of ['203.0.113.7', '8.8.8.8', '2001:db8::1']) {
      expect(await startError(stun(host))).toMatch(
        new RegExp(
          `^HOST=${host.replace(/\./g, '\\.')} is a public address, and without TLS_CERT_FILE and TLS_KEY_FILE .*or HOST to a loopback or private address`,
        ),
      );
    }
    expect(await startError(stun('turn.example.com'))).toMatch(
      /^HOST=turn\.example\.com is not an IP address.*or HOST to a loopback or private address/,
    );
  });

  it('listens on loopback and private addresses without TLS, and on every interface with it', async () => {
    await starts(stun('127.0.0.1'));
    await starts(stun('::1'));
    await starts(stun('localhost'));
    // A private address this machine need not have: refused by the config check, or not.
    const err = await startService(stun('10.255.255.254')).then(
      (s) => s.close(),
      (e: unknown) => e,
    );
    expect(err).not.toBeInstanceOf(ConfigError);
    const { cert, key } = makeCertificate('wildcard');
    await starts({ ...stun('0.0.0.0'), TLS_CERT_FILE: cert, TLS_KEY_FILE: key });
  });
});

describe('config errors never print a secret put where a path or URL belongs', () => {
  const dir = certificateDir();

  it('a *_FILE variable holding the secret itself: the message names it, not its value', async () => {
    const secret = randomToken();
    for (const name of ['TURN_SECRET_FILE', 'API_TOKENS_FILE', 'TLS_KEY_FILE']) {
      const { TURN_SECRET: _s, API_TOKENS: _t, ...env } = coturn('unused');
      const { cert } = makeCertificate(`file-${name}`);
      const msg = await startError({
        ...env,
        TURN_SECRET: 'i'.repeat(40),
        API_TOKENS: randomToken(),
        ...(name === 'TLS_KEY_FILE' ? { TLS_CERT_FILE: cert } : {}),
        ...(name === 'TURN_SECRET_FILE' ? { TURN_SECRET: '' } : {}),
        ...(name === 'API_TOKENS_FILE' ? { API_TOKENS: '' } : {}),
        [name]: secret,
      });
      expect(msg).toMatch(new RegExp(`^${name} names a file that cannot be read \\(ENOENT\\)`));
      expect(msg).not.toContain(secret);
    }
  });

  it('a certificate file that is no PEM, or an empty one: named, the path not shown', async () => {
    const garbage = join(dir, `${randomToken()}.pem`);
    writeFileSync(garbage, 'not a certificate\n');
    const empty = join(dir, `${randomToken()}.pem`);
    writeFileSync(empty, '\n');
    const { key } = makeCertificate('paths');
    for (const [env, message] of [
      [{ TLS_CERT_FILE: garbage, TLS_KEY_FILE: key }, /^TLS_CERT_FILE holds no PEM certificate/],
      [{ TLS_CERT_FILE: empty, TLS_KEY_FILE: key }, /^TLS_CERT_FILE names an empty file/],
    ] as const) {
      const msg = await startError({ ...BASE, TURN_PROVIDER: 'stun', ...env });
      expect(msg).toMatch(message);
      expect(msg).not.toContain(env.TLS_CERT_FILE);
    }
  });

  it('TURN_API_URL with the key in its query string or user info: refused without the key', async () => {
    const key = randomToken();
    const metered = (url: string) => ({
      ...BASE,
      HOST: '127.0.0.1',
      TURN_PROVIDER: 'metered',
      TURN_API_URL: url,
      TURN_API_KEY: randomToken(),
      API_TOKENS: randomToken(),
    });
    for (const [url, message] of [
      [
        `http://app.metered.live/?secretKey=${key}`,
        /^TURN_API_URL must use https:\/\/.*got "http:\/\/app\.metered\.live\/"/,
      ],
      [`app.metered.live?secretKey=${key}`, /^TURN_API_URL is not a URL.*got "app\.metered\.live"/],
      [`http://user:${key}@app.metered.live`, /^TURN_API_URL must use https:\/\//],
      [`https://user:${key}@app.metered.live`, /^TURN_API_URL must not carry credentials/],
    ] as const) {
      const msg = await startError(metered(url));
      expect(msg).toMatch(message);
      expect(msg).not.toContain(key);
    }
  });
});
