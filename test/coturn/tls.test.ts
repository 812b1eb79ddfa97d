import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type SecureVersion } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningCoturn, startCoturn } from '../helpers/coturn';
import { freePortBlock } from '../helpers/ports';

/** The suite a TLS handshake settled on, or the handshake's error. */
function handshake(
  port: number,
  opts: { ciphers?: string; maxVersion?: SecureVersion; minVersion?: SecureVersion },
): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts });
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.once('secureConnect', () => {
      resolve(`${socket.getProtocol()} ${socket.getCipher().name}`);
      socket.destroy();
    });
    socket.once('error', (err) => resolve(`refused: ${err.message.split('\n')[0]}`));
  });
}

// An RSA certificate: with an ECDSA one no static-RSA suite could be negotiated anyway, so the
// test would pass whatever the relay offers.
describe('turns: on the shipped config offers forward secrecy only', () => {
  let coturn: RunningCoturn;
  let tlsPort: number;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'turnkey-rsa-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        '/CN=relay.test',
        '-days',
        '2',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'pipe' },
    );
    tlsPort = await freePortBlock(1);
    coturn = await startCoturn({
      env: { TURN_SECRET: randomBytes(32).toString('hex'), TURN_TLS_PORT: String(tlsPort) },
      files: {
        TURN_TLS_CERT_FILE: readFileSync(join(dir, 'cert.pem'), 'utf8'),
        TURN_TLS_KEY_FILE: readFileSync(join(dir, 'key.pem'), 'utf8'),
      },
    });
  });
  afterAll(async () => {
    await coturn?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    'AES128-SHA',
    'AES128-GCM-SHA256',
    'AES256-SHA256',
    'DHE-RSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-SHA',
  ])('refuses a TLS 1.2 client that offers only %s', async (ciphers) => {
    expect(await handshake(tlsPort, { ciphers, maxVersion: 'TLSv1.2' })).toMatch(/^refused: /);
  });

  it.each([
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ])('accepts a TLS 1.2 client offering %s', async (ciphers) => {
    expect(await handshake(tlsPort, { ciphers, maxVersion: 'TLSv1.2' })).toBe(`TLSv1.2 ${ciphers}`);
  });

  it('accepts TLS 1.3', async () => {
    expect(await handshake(tlsPort, { minVersion: 'TLSv1.3' })).toMatch(/^TLSv1\.3 TLS_AES_/);
  });
});
