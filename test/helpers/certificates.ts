import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Self-signed certificates for 127.0.0.1, made with openssl, for the service's HTTPS tests. */

let dir: string | undefined;

/** A directory for this test file's certificates (and other files next to them). */
export function certificateDir(): string {
  dir ??= mkdtempSync(join(tmpdir(), 'turnkey-tls-'));
  return dir;
}

/**
 * A certificate for 127.0.0.1 and its unencrypted key; returns the two file paths. `rsa`: an
 * RSA key, which is what static-RSA key exchange (no forward secrecy) needs to be possible.
 */
export function makeCertificate(
  name: string,
  keyType: 'ec' | 'rsa' = 'ec',
): { cert: string; key: string } {
  const cert = join(certificateDir(), `${name}-cert.pem`);
  const key = join(certificateDir(), `${name}-key.pem`);
  const newKey =
    keyType === 'ec'
      ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
      : ['-newkey', 'rsa:2048'];
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      ...newKey,
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=turnkey test',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

export function removeCertificates(): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
}
