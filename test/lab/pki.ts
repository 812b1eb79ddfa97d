import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A test CA and one leaf certificate for the given IPs / names (openssl; P-256 keys: fast). */

export interface TestPki {
  caFile: string;
  certFile: string;
  keyFile: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  /** A renewal: a new key and certificate for the same names, from the same CA. */
  renew(): { certPem: string; keyPem: string };
}

/**
 * OpenSSL working in `dir`: P-256 keys, a self-signed CA (ca.key, ca.pem), CSRs and the
 * extensions of a server leaf (leaf.ext). makeTestPki and test/helpers/dated-pki.ts sign with it.
 */
export function opensslIn(dir: string) {
  mkdirSync(dir, { recursive: true });
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const key = (file: string) =>
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f(file));
  return {
    f,
    openssl,
    read: (name: string) => readFileSync(f(name), 'utf8'),
    /** ca.key and ca.pem: a CA for TLS servers named `subject`, valid for `days`. */
    ca(subject: string, days: number) {
      key('ca.key');
      openssl(
        'req',
        '-x509',
        '-new',
        '-key',
        f('ca.key'),
        '-subj',
        subject,
        '-days',
        String(days),
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign',
        '-out',
        f('ca.pem'),
      );
    },
    /** <name>.key and <name>.csr for CN=`cn`. */
    csr(name: string, cn: string) {
      key(`${name}.key`);
      openssl(
        'req',
        '-new',
        '-key',
        f(`${name}.key`),
        '-subj',
        `/CN=${cn}`,
        '-out',
        f(`${name}.csr`),
      );
    },
    /** leaf.ext: a server certificate's extensions, for these subjectAltName entries. */
    leafExtensions(san: string[]) {
      writeFileSync(
        f('leaf.ext'),
        `subjectAltName=${san.join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`,
      );
    },
  };
}

export function makeTestPki(dir: string, opts: { ips: string[]; names?: string[] }): TestPki {
  const { f, openssl, read, ca, csr, leafExtensions } = opensslIn(dir);
  ca('/CN=turnkey test CA', 2);
  const cn = opts.names?.[0] ?? opts.ips[0] ?? 'turnkey';
  const san = [...opts.ips.map((ip) => `IP:${ip}`), ...(opts.names ?? []).map((n) => `DNS:${n}`)];
  const leaf = (name: string) => {
    csr(name, cn);
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      f('leaf.ext'),
      '-out',
      f(`${name}.pem`),
    );
    return { certPem: read(`${name}.pem`), keyPem: read(`${name}.key`) };
  };
  leafExtensions(san);
  leaf('leaf');
  let renewals = 0;
  return {
    caFile: f('ca.pem'),
    certFile: f('leaf.pem'),
    keyFile: f('leaf.key'),
    caPem: read('ca.pem'),
    certPem: read('leaf.pem'),
    keyPem: read('leaf.key'),
    renew: () => leaf(`renewed-${++renewals}`),
  };
}
