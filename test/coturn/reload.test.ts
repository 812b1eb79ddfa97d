import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { turnRestCredential } from '../../service/providers/coturn';
import { type Allocation, allocate, TurnError } from '../../service/turn/client';
import { makeCertificate, removeCertificates } from '../helpers/certificates';
import {
  COTURN_ROOT,
  type RunningCoturn,
  startCoturn,
  workDir,
  writeOwned,
} from '../helpers/coturn';
import { freePortBlock } from '../helpers/ports';

/**
 * The relay picks up changed secret and certificate files without a restart: the same
 * turnserver process, and an allocation made before the change is still refreshed after it.
 * (Relaying data between public peers across these changes is shown in the lab, where the
 * shipped config relays; on loopback it rightly refuses.)
 */

const secret = () => randomBytes(32).toString('hex');
const user = (label: string) => `${label}-${randomBytes(4).toString('hex')}`;
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;
/** Files change within the watcher's 2 s interval plus the one it waits for them to settle. */
const PICKED_UP_WITHIN = { timeout: 10_000, interval: 250 };

/** The outcome of an Allocate signed with `key`: 'allocated', or the TURN error code. */
async function allocateWith(
  server: RunningCoturn,
  key: string,
  opts: { transport?: 'udp' | 'tls'; port?: number } = {},
): Promise<string | number> {
  try {
    const a = await allocate({
      host: '127.0.0.1',
      port: opts.port ?? server.port,
      transport: opts.transport ?? 'udp',
      ...turnRestCredential(key, user('r'), inAnHour()),
    });
    await a.release();
    return 'allocated';
  } catch (err) {
    if (err instanceof TurnError) return err.code;
    throw err;
  }
}

/** The host path of a file startCoturn made for `variable`. */
const hostFile = (variable: string) => (server: RunningCoturn) =>
  join(COTURN_ROOT, (server.env as Record<string, string>)[variable] as string);

describe('a secret rotation reaches the running relay', () => {
  const [k1, k2, k3] = [secret(), secret(), secret()];
  let server: RunningCoturn;
  let before: Allocation;
  const current = hostFile('TURN_SECRET_FILE');
  const previous = hostFile('TURN_SECRET_PREVIOUS_FILE');

  beforeAll(async () => {
    server = await startCoturn({ files: { TURN_SECRET_FILE: k1, TURN_SECRET_PREVIOUS_FILE: '' } });
    before = await allocate({
      host: '127.0.0.1',
      port: server.port,
      ...turnRestCredential(k1, user('before'), inAnHour()),
    });
  });
  afterAll(async () => {
    await before?.release().catch(() => {});
    await server?.stop();
  });

  it('new secret accepted, previous kept, the one before refused; same process, allocation kept', async () => {
    const pid = server.process.pid;
    expect(await allocateWith(server, k1)).toBe('allocated');
    expect(await allocateWith(server, k2)).toBe(401);

    // Generation 2: the service signs with k2; credentials signed with k1 stay valid.
    writeOwned(current(server), k2);
    writeOwned(previous(server), `${k1}\n`);
    await expect.poll(() => allocateWith(server, k2), PICKED_UP_WITHIN).toBe('allocated');
    expect(await allocateWith(server, k1)).toBe('allocated');

    // Generation 3: k1 is two generations old.
    writeOwned(current(server), k3);
    writeOwned(previous(server), k2);
    await expect.poll(() => allocateWith(server, k1), PICKED_UP_WITHIN).toBe(401);
    expect(await allocateWith(server, k3)).toBe('allocated');
    expect(await allocateWith(server, k2)).toBe('allocated');

    expect(server.process.pid).toBe(pid);
    expect(server.process.exitCode).toBe(null);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toMatch(/^turnserver\0/);
    // Made with k1 before both rotations: its session key is cached, so it lives on.
    expect(await before.refresh(600)).toBe(600);
    expect(server.log()).toMatch(
      /turnkey-coturn: secrets re-read from TURN_SECRET_FILE and TURN_SECRET_PREVIOUS_FILE: 2 accepted/,
    );
    for (const k of [k1, k2, k3]) expect(server.log()).not.toContain(k);
  });

  it('a secret file that turns invalid keeps the loaded set, and says which and why', async () => {
    writeOwned(current(server), 'too-short');
    await expect
      .poll(() => server.log(), PICKED_UP_WITHIN)
      .toMatch(
        /turnkey-coturn: TURN_SECRET is too short: use at least 32 characters \(e\.g\. openssl rand -hex 32\); keeping the secrets loaded at \d{4}-\d\d-\d\dT/,
      );
    expect(await allocateWith(server, k3)).toBe('allocated');
    expect(await allocateWith(server, k2)).toBe('allocated');
    expect(server.log()).not.toContain('too-short');
  });
});

describe('at start, before the service has written the files', () => {
  it('waits for the ones in RELAY_SECRETS_DIR (the shared volume), then starts with them', async () => {
    const key = secret();
    const [host, inside] = workDir();
    mkdirSync(join(host, 'volume'));
    const server = await startCoturn({
      env: {
        RELAY_SECRETS_DIR: `${inside}/volume`,
        TURN_SECRET_FILE: `${inside}/volume/turn-secret`,
        TURN_SECRET_PREVIOUS_FILE: `${inside}/volume/turn-secret-previous`,
      },
      waitReady: false,
    });
    try {
      await expect
        .poll(() => server.log(), PICKED_UP_WITHIN)
        .toMatch(
          /turnkey-coturn: waiting up to 60 s for TURN_SECRET_FILE TURN_SECRET_PREVIOUS_FILE \(the credential service writes them\)/,
        );
      writeOwned(join(host, 'volume/turn-secret-previous'), '');
      writeOwned(join(host, 'volume/turn-secret'), key);
      await expect.poll(() => allocateWith(server, key), PICKED_UP_WITHIN).toBe('allocated');
    } finally {
      await server.stop();
      rmSync(host, { recursive: true, force: true });
    }
  });
});

/** The certificate a new TLS handshake on `port` presents, by SHA-256 fingerprint. */
function presented(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.once('secureConnect', () => {
      resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? 'none');
      socket.destroy();
    });
    socket.once('error', reject);
  });
}
const fingerprint = (certFile: string) =>
  new X509Certificate(readFileSync(certFile)).fingerprint256;

describe('a certificate change reaches the running relay (SIGUSR2)', () => {
  const key = secret();
  const [a, b, c] = [
    makeCertificate('relay-a'),
    makeCertificate('relay-b'),
    makeCertificate('relay-c'),
  ];
  let server: RunningCoturn;
  let tlsPort: number;
  let overTls: Allocation;
  const certFile = hostFile('TURN_TLS_CERT_FILE');
  const keyFile = hostFile('TURN_TLS_KEY_FILE');
  const install = (pair: { cert: string; key: string }) => {
    writeOwned(certFile(server), readFileSync(pair.cert, 'utf8'));
    writeOwned(keyFile(server), readFileSync(pair.key, 'utf8'));
  };

  beforeAll(async () => {
    tlsPort = await freePortBlock(1);
    server = await startCoturn({
      env: { TURN_SECRET: key, TURN_TLS_PORT: String(tlsPort) },
      files: {
        TURN_TLS_CERT_FILE: readFileSync(a.cert, 'utf8'),
        TURN_TLS_KEY_FILE: readFileSync(a.key, 'utf8'),
      },
    });
    overTls = await allocate({
      host: '127.0.0.1',
      port: tlsPort,
      transport: 'tls',
      ca: readFileSync(a.cert),
      ...turnRestCredential(key, user('tls'), inAnHour()),
    });
  });
  afterAll(async () => {
    await overTls?.release().catch(() => {});
    await server?.stop();
    removeCertificates();
  });
  afterEach(() => expect(server.process.exitCode).toBe(null));

  it('new handshakes get the new certificate; the TLS session made before keeps working', async () => {
    const pid = server.process.pid;
    expect(await presented(tlsPort)).toBe(fingerprint(a.cert));
    install(b);
    await expect.poll(() => presented(tlsPort), PICKED_UP_WITHIN).toBe(fingerprint(b.cert));
    expect(server.process.pid).toBe(pid);
    // The allocation over the connection that handshook with certificate A.
    expect(await overTls.refresh(600)).toBe(600);
    expect(server.log()).toMatch(
      /turnkey-coturn: certificate and key re-read from TURN_TLS_CERT_FILE and TURN_TLS_KEY_FILE \(SIGUSR2\)/,
    );
  });

  it('a file that is no PEM certificate is not loaded: the current certificate stays, and the log says which file', async () => {
    writeOwned(certFile(server), 'not a certificate');
    await expect
      .poll(() => server.log(), PICKED_UP_WITHIN)
      .toMatch(
        /turnkey-coturn: TURN_TLS_CERT_FILE \S+: not a PEM certificate; keeping the certificate loaded at \d{4}-/,
      );
    expect(await presented(tlsPort)).toBe(fingerprint(b.cert));
  });

  it('a key of another certificate is not loaded, by the watcher nor by turnserver: the working pair stays', async () => {
    writeOwned(certFile(server), readFileSync(c.cert, 'utf8'));
    writeOwned(keyFile(server), readFileSync(b.key, 'utf8'));
    await expect
      .poll(() => server.log(), PICKED_UP_WITHIN)
      .toMatch(
        /turnkey-coturn: TURN_TLS_KEY_FILE \S+: not the private key of the certificate in TURN_TLS_CERT_FILE; keeping the certificate loaded at/,
      );
    // And had it been signalled: turnserver swaps its TLS context only when the new pair
    // loads without error (mainrelay.c set_ctx).
    process.kill(server.process.pid as number, 'SIGUSR2');
    await expect
      .poll(() => server.log(), PICKED_UP_WITHIN)
      .toMatch(/TLS: ERROR: invalid private key/);
    expect(await presented(tlsPort)).toBe(fingerprint(b.cert));
    expect(await allocateWith(server, key, { transport: 'udp' })).toBe('allocated');
    install(c);
    await expect.poll(() => presented(tlsPort), PICKED_UP_WITHIN).toBe(fingerprint(c.cert));
  });
});
