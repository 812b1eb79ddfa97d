import { X509Certificate } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ACME_STATE_FILES, RELAY_SECRET_FILES } from '../../contract';
import { AcmeStore } from '../../service/acme/store';
import { certificateDir, makeCertificate, removeCertificates } from '../helpers/certificates';
import { metricSample, randomToken, startTestService } from '../helpers/service';

/**
 * Where a new certificate goes once the service has it: the API serves it, the relay's copy in
 * RELAY_SECRETS_DIR is rewritten (its watcher loads it), the expiry metric follows; and with
 * ACME, the one kept in ACME_STATE_DIR is served at start without an order.
 */

const TOKEN = randomToken();
const SECRET = 'relay-secret-0123456789abcdef0123456789';
const dir = mkdtempSync(join(tmpdir(), 'turnkey-handoff-'));
certificateDir();
afterAll(() => {
  removeCertificates();
  rmSync(dir, { recursive: true, force: true });
});
let svc: Awaited<ReturnType<typeof startTestService>> | undefined;
afterEach(async () => {
  await svc?.service.close();
  svc = undefined;
});

const notAfterOf = (pem: string) => new Date(new X509Certificate(pem).validTo).getTime() / 1000;
const coturn = (relaySecretsDir: string) => ({
  TURN_PROVIDER: 'coturn',
  TURN_SECRET: SECRET,
  TURN_URLS: 'turn:127.0.0.1:3478?transport=udp',
  API_TOKENS: TOKEN,
  RELAY_SECRETS_DIR: relaySecretsDir,
});

describe('a certificate rewritten under the running service', () => {
  it('reaches the relay’s files and the expiry metric, not only the API', async () => {
    const a = makeCertificate('handoff-a');
    const b = makeCertificate('handoff-b');
    const live = { cert: join(dir, 'live-cert.pem'), key: join(dir, 'live-key.pem') };
    copyFileSync(a.cert, live.cert);
    copyFileSync(a.key, live.key);
    const relayDir = mkdtempSync(join(dir, 'relay-'));
    svc = await startTestService(
      { ...coturn(relayDir), TLS_CERT_FILE: live.cert, TLS_KEY_FILE: live.key },
      { reloadIntervalMs: 100 },
    );
    const relayCert = join(relayDir, RELAY_SECRET_FILES.tlsCert);
    expect(readFileSync(relayCert, 'utf8').trim()).toBe(readFileSync(a.cert, 'utf8').trim());

    for (const [from, to] of [
      [b.key, live.key],
      [b.cert, live.cert],
    ] as const) {
      copyFileSync(from, `${to}.new`);
      renameSync(`${to}.new`, to);
    }
    const bCert = readFileSync(b.cert, 'utf8').trim();
    await expect.poll(() => readFileSync(relayCert, 'utf8').trim(), { timeout: 5_000 }).toBe(bCert);
    expect(readFileSync(join(relayDir, RELAY_SECRET_FILES.tlsKey), 'utf8').trim()).toBe(
      readFileSync(b.key, 'utf8').trim(),
    );
    // The TURN secret files stay as they were.
    expect(readFileSync(join(relayDir, RELAY_SECRET_FILES.turnSecret), 'utf8').trim()).toBe(SECRET);
    expect(
      await metricSample(
        svc.service,
        'turnkey_certificate_expiry_timestamp_seconds',
        'endpoint="service"',
      ),
    ).toBe(notAfterOf(bCert));
  });
});

describe('ACME with a certificate kept in ACME_STATE_DIR', () => {
  it('serves it at start without asking the CA, and /readyz shows it within a week of expiry', async () => {
    const pair = makeCertificate('kept');
    const state = mkdtempSync(join(dir, 'state-'));
    chmodSync(state, 0o700);
    // No CA answers here: an order would fail and start-up would wait.
    const directoryUrl = 'https://127.0.0.1:9/directory';
    new AcmeStore(state).saveCertificate({
      cert: readFileSync(pair.cert, 'utf8'),
      key: readFileSync(pair.key, 'utf8'),
      directoryUrl,
      domains: ['turn.example.com'],
    });
    const relayDir = mkdtempSync(join(dir, 'relay-'));
    svc = await startTestService({
      ...coturn(relayDir),
      ACME_EMAIL: 'ops@example.com',
      ACME_DIRECTORY_URL: directoryUrl,
      ACME_DOMAINS: 'turn.example.com',
      ACME_HTTP_PORT: '0',
      ACME_STATE_DIR: state,
    });
    expect(svc.url).toMatch(/^https:/);
    expect(svc.logs.text()).toMatch(/ACME: serving the certificate kept in ACME_STATE_DIR/);
    expect(svc.logs.text()).not.toMatch(/ordering a certificate/);
    const kept = readFileSync(join(state, ACME_STATE_FILES.certificate), 'utf8').trim();
    expect(readFileSync(join(relayDir, RELAY_SECRET_FILES.tlsCert), 'utf8').trim()).toBe(kept);

    const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
    try {
      const res = await request(`${svc.url}/readyz`, {
        dispatcher,
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      const body = (await res.body.json()) as { certificate?: Record<string, unknown> };
      expect(body.certificate).toMatchObject({
        notAfter: new Date(notAfterOf(kept) * 1000).toISOString(),
        warning: 'the certificate expires in less than 7 days',
        acme: { domains: ['turn.example.com'] },
      });
      // Without the token: no detail.
      const bare = await request(`${svc.url}/readyz`, { dispatcher });
      expect(await bare.body.json()).not.toHaveProperty('certificate');
    } finally {
      await dispatcher.close();
    }
  });

  it('refuses ACME_EMAIL together with TLS_CERT_FILE, naming both', async () => {
    const pair = makeCertificate('both');
    await expect(
      startTestService({
        TURN_PROVIDER: 'stun',
        ACME_EMAIL: 'ops@example.com',
        ACME_DOMAINS: 'turn.example.com',
        ACME_STATE_DIR: dir,
        TLS_CERT_FILE: pair.cert,
        TLS_KEY_FILE: pair.key,
      }),
    ).rejects.toThrow(
      'ACME_EMAIL and TLS_CERT_FILE are both set: keep one certificate source (unset TLS_CERT_FILE and TLS_KEY_FILE for automatic certificates, or ACME_EMAIL to serve your own)',
    );
  });
});
