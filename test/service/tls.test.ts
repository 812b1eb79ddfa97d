import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../service/config';
import { certificateDir, makeCertificate, removeCertificates } from '../helpers/certificates';
import { get, randomToken, startTestService } from '../helpers/service';

const TOKEN = randomToken();
const dir = certificateDir();

afterAll(removeCertificates);

const STUN_ONLY = { TURN_PROVIDER: 'stun', STUN_URLS: 'stun:stun.example.com:3478' };

describe('the service with TLS_CERT_FILE and TLS_KEY_FILE', () => {
  let files: { cert: string; key: string };
  let svc: Awaited<ReturnType<typeof startTestService>>;
  let trusting: Agent;

  beforeAll(async () => {
    files = makeCertificate('good');
    trusting = new Agent({ connect: { ca: readFileSync(files.cert, 'utf8') } });
    svc = await startTestService({
      ...STUN_ONLY,
      API_TOKENS: TOKEN,
      TLS_CERT_FILE: files.cert,
      TLS_KEY_FILE: files.key,
    });
  });
  afterAll(async () => {
    await svc?.service.close();
    await trusting?.close();
  });

  it('serves the API over HTTPS with the given certificate', async () => {
    expect(svc.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await request(`${svc.url}/v1/ice-servers?user=alice`, {
      headers: { authorization: `Bearer ${TOKEN}` },
      dispatcher: trusting,
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toMatchObject({ iceServers: [{ urls: [STUN_ONLY.STUN_URLS] }] });

    const { port } = new URL(svc.url);
    const presented = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: Number(port), rejectUnauthorized: false });
      socket.once('secureConnect', () => {
        resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
        socket.end();
      });
      socket.once('error', reject);
    });
    expect(presented).toBe(new X509Certificate(readFileSync(files.cert)).fingerprint256);
  });

  it('answers no plain-HTTP request: the token never travels in clear', async () => {
    const plain = svc.url.replace('https:', 'http:');
    await expect(get(`${plain}/v1/ice-servers?user=alice`, { token: TOKEN })).rejects.toThrow();
  });

  it('keeps /metrics on its plain loopback listener, not on the HTTPS port', async () => {
    expect(svc.service.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await get(`${svc.service.metricsUrl}/metrics`)).text).toMatch(
      /turnkey_http_requests_total/,
    );
    const onApi = await request(`${svc.url}/metrics`, { dispatcher: trusting });
    expect(onApi.statusCode).toBe(404);
    await onApi.body.dump();
  });
});

describe('TLS configuration errors stop start-up with a line naming the variable', () => {
  function configError(env: Record<string, string>): string {
    try {
      loadConfig({ ...STUN_ONLY, ...env });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('expected a ConfigError');
  }

  it('refuses half a pair, naming the missing half', () => {
    const { cert, key } = makeCertificate('half');
    expect(configError({ TLS_CERT_FILE: cert })).toMatch(
      /^TLS_KEY_FILE is required when TLS_CERT_FILE is set/,
    );
    expect(configError({ TLS_KEY_FILE: key })).toMatch(
      /^TLS_CERT_FILE is required when TLS_KEY_FILE is set/,
    );
  });

  it('refuses files that are missing, not PEM, or a key of another certificate, and never shows the key', () => {
    const a = makeCertificate('a');
    const b = makeCertificate('b');
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    const keyText = readFileSync(a.key, 'utf8');
    const cases: [Record<string, string>, RegExp][] = [
      [
        { TLS_CERT_FILE: join(dir, 'absent.pem'), TLS_KEY_FILE: a.key },
        /^TLS_CERT_FILE names a file that cannot be read \(ENOENT\)/,
      ],
      [{ TLS_CERT_FILE: garbage, TLS_KEY_FILE: a.key }, /^TLS_CERT_FILE holds no PEM certificate/],
      [{ TLS_CERT_FILE: a.cert, TLS_KEY_FILE: garbage }, /^TLS_KEY_FILE holds no unencrypted PEM/],
      // The key file and certificate swapped is a classic.
      [{ TLS_CERT_FILE: a.key, TLS_KEY_FILE: a.cert }, /^TLS_CERT_FILE holds no PEM certificate/],
      [
        { TLS_CERT_FILE: a.cert, TLS_KEY_FILE: b.key },
        /^TLS_KEY_FILE is not the key of the certificate in TLS_CERT_FILE/,
      ],
    ];
    for (const [env, message] of cases) {
      const text = configError(env);
      expect(text).toMatch(message);
      expect(text).not.toContain(keyText.split('\n')[1] as string);
    }
  });

  it('refuses a metrics port equal to the API port', () => {
    expect(configError({ PORT: '9000', METRICS_PORT: '9000' })).toMatch(
      /^METRICS_PORT must differ from PORT/,
    );
  });
});

describe('the HTTPS listener offers forward secrecy only: ECDHE AEAD on TLS 1.2, and TLS 1.3', () => {
  let svc: Awaited<ReturnType<typeof startTestService>>;
  beforeAll(async () => {
    // RSA, so static-RSA key exchange (the suites refused) is possible at all.
    const files = makeCertificate('rsa', 'rsa');
    svc = await startTestService({
      ...STUN_ONLY,
      API_TOKENS: TOKEN,
      TLS_CERT_FILE: files.cert,
      TLS_KEY_FILE: files.key,
    });
  });
  afterAll(async () => svc?.service.close());

  /** The negotiated protocol and suite, or the handshake's error code. */
  const handshake = (opts: {
    ciphers?: string;
    minVersion?: 'TLSv1' | 'TLSv1.2' | 'TLSv1.3';
    maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  }) =>
    new Promise<string>((resolve) => {
      const socket = connect({
        host: '127.0.0.1',
        port: Number(new URL(svc.url).port),
        rejectUnauthorized: false,
        ...opts,
      });
      socket.once('secureConnect', () => {
        resolve(`${socket.getProtocol()} ${socket.getCipher().standardName}`);
        socket.end();
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(`refused: ${err.code}`));
    });

  it('refuses TLS 1.2 clients offering only static-RSA suites (no forward secrecy)', async () => {
    for (const ciphers of ['AES128-SHA', 'AES128-GCM-SHA256', 'AES256-GCM-SHA384'])
      expect(await handshake({ ciphers, maxVersion: 'TLSv1.2' })).toMatch(/^refused: /);
  });

  it('refuses CBC suites even with ECDHE, and anything below TLS 1.2', async () => {
    expect(await handshake({ ciphers: 'ECDHE-RSA-AES128-SHA', maxVersion: 'TLSv1.2' })).toMatch(
      /^refused: /,
    );
    expect(
      await handshake({
        ciphers: 'DEFAULT@SECLEVEL=0',
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
      }),
    ).toMatch(/^refused: /);
  });

  it('accepts ECDHE with AES-GCM or ChaCha20-Poly1305 on TLS 1.2, and TLS 1.3', async () => {
    for (const suite of [
      'ECDHE-RSA-AES128-GCM-SHA256',
      'ECDHE-RSA-AES256-GCM-SHA384',
      'ECDHE-RSA-CHACHA20-POLY1305',
    ])
      expect(await handshake({ ciphers: suite, maxVersion: 'TLSv1.2' })).toMatch(
        /^TLSv1\.2 TLS_ECDHE_RSA_WITH_/,
      );
    expect(await handshake({ minVersion: 'TLSv1.3' })).toMatch(/^TLSv1\.3 TLS_/);
  });
});
