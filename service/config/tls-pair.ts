import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';

/**
 * Whether a PEM certificate chain and a private key make a pair the HTTPS listener can serve:
 * checked at start-up (a wrong file stops it) and on every reload (a wrong file is kept out).
 * Problems name the variable at fault and never quote the files.
 */

export type TlsPairCheck =
  | { ok: true; certificate: X509Certificate }
  | { ok: false; variable: 'TLS_CERT_FILE' | 'TLS_KEY_FILE'; problem: string };

export function checkTlsPair(cert: string, key: string): TlsPairCheck {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    return {
      ok: false,
      variable: 'TLS_CERT_FILE',
      problem:
        'holds no PEM certificate (expected -----BEGIN CERTIFICATE-----, e.g. fullchain.pem)',
    };
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    return {
      ok: false,
      variable: 'TLS_KEY_FILE',
      problem:
        'holds no unencrypted PEM private key (e.g. privkey.pem; remove a passphrase with openssl pkey)',
    };
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    return {
      ok: false,
      variable: 'TLS_KEY_FILE',
      problem:
        'is not the key of the certificate in TLS_CERT_FILE: give the key the certificate was issued for',
    };
  }
  return { ok: true, certificate };
}
