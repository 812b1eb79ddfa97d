import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { certificateDir, makeCertificate, removeCertificates } from '../helpers/certificates';
import { escapeRegExp } from '../helpers/regexp';
import { metricSample, randomToken, startTestService } from '../helpers/service';

/**
 * A renewed certificate under a running HTTPS service: TLS_CERT_FILE and TLS_KEY_FILE rewritten,
 * new handshakes present the new one within 10 s while connections already open keep theirs; a
 * file that is no good is kept out and shown (log line, metric, /readyz with the token).
 */

const TOKEN = randomToken();
const STUN_ONLY = { TURN_PROVIDER: 'stun', STUN_URLS: 'stun:stun.example.com:3478' };
const dir = certificateDir();
afterAll(removeCertificates);

type Service = Awaited<ReturnType<typeof startTestService>>;
let svc: Service | undefined;
const sockets: TLSSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await svc?.service.close();
  svc = undefined;
});

const fingerprint = (certFile: string) =>
  new X509Certificate(readFileSync(certFile)).fingerprint256;

/** The service's own files, which the tests rewrite; they start as a copy of `pair`. */
function liveFiles(name: string, pair: { cert: string; key: string }) {
  const live = { cert: join(dir, `${name}-live-cert.pem`), key: join(dir, `${name}-live-key.pem`) };
  copyFileSync(pair.cert, live.cert);
  copyFileSync(pair.key, live.key);
  return live;
}

/** As certbot and Kubernetes do: the new file written aside, then renamed over the old one. */
function replaceAtomically(target: string, source: string) {
  const aside = `${target}.new`;
  copyFileSync(source, aside);
  renameSync(aside, target);
}

async function start(files: { cert: string; key: string }, reloadIntervalMs?: number) {
  svc = await startTestService(
    { ...STUN_ONLY, API_TOKENS: TOKEN, TLS_CERT_FILE: files.cert, TLS_KEY_FILE: files.key },
    reloadIntervalMs === undefined ? {} : { reloadIntervalMs },
  );
  return { svc, port: Number(new URL(svc.url).port) };
}

/** The certificate a new handshake gets, or the handshake's error code. */
function handshake(
  port: number,
  opts: { ciphers?: string; maxVersion?: 'TLSv1.1' | 'TLSv1.2'; minVersion?: 'TLSv1' } = {},
) {
  return new Promise<string>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts });
    socket.once('secureConnect', () => {
      resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
      socket.end();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(`refused: ${err.code}`));
  });
}

/** One TLS connection kept open, with HTTP/1.1 keep-alive requests sent over it one at a time. */
async function keptConnection(port: number) {
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
  sockets.push(socket);
  let closed = false;
  socket.once('close', () => {
    closed = true;
  });
  return {
    socket,
    closed: () => closed,
    /** The status of GET `path` on this connection. */
    get(path: string) {
      return new Promise<number>((resolve, reject) => {
        let text = '';
        const onData = (d: Buffer) => {
          text += d.toString('latin1');
          const end = text.indexOf('\r\n\r\n');
          const length = /\r\ncontent-length: (\d+)/i.exec(text);
          if (end === -1 || !length || text.length < end + 4 + Number(length[1])) return;
          socket.off('data', onData);
          socket.off('error', reject);
          resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]));
        };
        socket.on('data', onData);
        socket.once('error', reject);
        socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
      });
    },
  };
}

const ISO = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';

/** GET `path` over a new connection that accepts the self-signed certificate. */
async function https(s: Service, path: string, token?: string) {
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    const res = await request(`${s.url}${path}`, {
      dispatcher,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  } finally {
    await dispatcher.close();
  }
}

/** No line quotes a key or a certificate: PEM markers and the keys' base64 lines. */
function expectNoPem(s: Service, keyFiles: string[]) {
  const text = s.logs.text();
  // The start-up hint names the marker ("expected -----BEGIN CERTIFICATE-----"), never a body.
  expect(text).not.toMatch(/-----BEGIN [A-Z ]+-----\s*[A-Za-z0-9+/]{16}/);
  expect(text).not.toContain('PRIVATE KEY-----');
  for (const file of keyFiles)
    for (const line of readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.length > 20))
      expect(text).not.toContain(line);
}

describe('a renewed certificate is served without a restart', () => {
  it('new handshakes present the new certificate within 10 s; a connection opened before keeps the old one and still works', async () => {
    const a = makeCertificate('renew-a');
    // RSA, so that the suites refused to static-RSA key exchange are on offer at all below.
    const b = makeCertificate('renew-b', 'rsa');
    const live = liveFiles('renew', a);
    const { svc, port } = await start(live); // the real poll interval
    const kept = await keptConnection(port);
    // Read now: Node forgets the peer's certificate once TLS 1.3 session tickets arrive. A
    // connection cannot change certificates later (TLS 1.3 has no renegotiation).
    expect(kept.socket.getPeerX509Certificate()?.fingerprint256).toBe(fingerprint(a.cert));
    expect(await kept.get('/healthz')).toBe(200);

    replaceAtomically(live.cert, b.cert);
    replaceAtomically(live.key, b.key);
    await expect
      .poll(
        async () => {
          // Also keeps the connection busy: idle, the server would close it after 5 s.
          expect(await kept.get('/healthz')).toBe(200);
          return handshake(port);
        },
        { timeout: 10_000, interval: 200 },
      )
      .toBe(fingerprint(b.cert));

    // No restart: the connection from before the swap was never dropped and still carries
    // requests, on the listener it was opened to.
    expect(await kept.get('/healthz')).toBe(200);
    expect(kept.closed()).toBe(false);
    expect(
      await metricSample(svc.service, 'turnkey_reloads_total', 'material="tls",outcome="applied"'),
    ).toBe(1);
    expect(
      await metricSample(svc.service, 'turnkey_reloads_total', 'material="tls",outcome="failed"'),
    ).toBe(0);
    const expires = new Date(new X509Certificate(readFileSync(b.cert)).validTo).toISOString();
    expect(svc.logs.parsed()).toContainEqual(
      expect.objectContaining({
        level: 'info',
        msg: `TLS certificate reloaded from TLS_CERT_FILE (expires ${expires})`,
      }),
    );

    // setSecureContext replaces every TLS option: the forward-secrecy policy must come along.
    for (const ciphers of ['AES128-GCM-SHA256', 'AES256-GCM-SHA384'])
      expect(await handshake(port, { ciphers, maxVersion: 'TLSv1.2' })).toMatch(/^refused: /);
    expect(
      await handshake(port, {
        ciphers: 'DEFAULT@SECLEVEL=0',
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
      }),
    ).toMatch(/^refused: /);
    expectNoPem(svc, [a.key, b.key]);
  });
});

describe('a changed certificate that is no good is kept out and shown until a good pair replaces it', () => {
  it('garbage, then a key of another certificate: the old one stays, named in the log, the metric and /readyz; then a good pair clears it', async () => {
    const a = makeCertificate('bad-a');
    const b = makeCertificate('bad-b');
    const live = liveFiles('bad', a);
    const { svc, port } = await start(live, 100);
    const failed = () =>
      metricSample(svc.service, 'turnkey_reloads_total', 'material="tls",outcome="failed"');
    const errors = () => svc.logs.parsed().filter((l) => l.level === 'error');
    const keeping = `; keeping the certificate loaded at ${ISO}$`;

    writeFileSync(live.cert, 'not a certificate\n');
    await expect.poll(() => errors().length, { timeout: 10_000 }).toBe(1);
    expect(errors()[0]).toMatchObject({
      material: 'tls',
      variable: 'TLS_CERT_FILE',
      file: live.cert,
      msg: expect.stringMatching(
        new RegExp(
          `^TLS_CERT_FILE ${escapeRegExp(live.cert)}: the file holds no PEM certificate .*${keeping}`,
        ),
      ),
    });
    expect(await handshake(port)).toBe(fingerprint(a.cert));
    expect(await failed()).toBe(1);
    expect(
      await metricSample(svc.service, 'turnkey_material_reload_failing', 'material="tls"'),
    ).toBe(1);
    let full = await https(svc, '/readyz', TOKEN);
    expect(full.status).toBe(200);
    expect(full.body).toMatchObject({ status: 'ready', cause: 'ready' });
    expect(full.body.reload).toEqual([
      {
        material: 'tls',
        variable: 'TLS_CERT_FILE',
        file: live.cert,
        error: expect.stringMatching(/^the file holds no PEM certificate/),
        failedAt: expect.stringMatching(new RegExp(`^${ISO}$`)),
        loadedAt: expect.stringMatching(new RegExp(`^${ISO}$`)),
      },
    ]);
    // A load balancer's view does not change: the service still serves the old certificate.
    for (const token of [undefined, randomToken()])
      expect(await https(svc, '/readyz', token)).toEqual({
        status: 200,
        body: { status: 'ready', cause: 'ready' },
      });

    // Half of a renewal: the new certificate, the old key.
    writeFileSync(live.cert, readFileSync(b.cert));
    await expect.poll(() => errors().length, { timeout: 10_000 }).toBe(2);
    expect(errors()[1]).toMatchObject({
      variable: 'TLS_KEY_FILE',
      file: live.key,
      msg: expect.stringMatching(
        new RegExp(
          `^TLS_KEY_FILE ${escapeRegExp(live.key)}: the file is not the key of the certificate in TLS_CERT_FILE.*${keeping}`,
        ),
      ),
    });
    expect(await handshake(port)).toBe(fingerprint(a.cert));
    expect(await failed()).toBe(2);
    full = await https(svc, '/readyz', TOKEN);
    expect(full.body.reload).toEqual([expect.objectContaining({ variable: 'TLS_KEY_FILE' })]);

    // The other half: a consistent pair again.
    writeFileSync(live.key, readFileSync(b.key));
    await expect.poll(() => handshake(port), { timeout: 10_000 }).toBe(fingerprint(b.cert));
    full = await https(svc, '/readyz', TOKEN);
    expect(full.status).toBe(200);
    expect(full.body).not.toHaveProperty('reload');
    expect(
      await metricSample(svc.service, 'turnkey_reloads_total', 'material="tls",outcome="applied"'),
    ).toBe(1);
    expect(
      await metricSample(svc.service, 'turnkey_material_reload_failing', 'material="tls"'),
    ).toBe(0);
    expect(errors()).toHaveLength(2);
    expectNoPem(svc, [a.key, b.key]);
  });
});
