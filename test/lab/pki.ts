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

export function makeTestPki(dir: string, opts: { ips: string[]; names?: string[] }): TestPki {
  mkdirSync(dir, { recursive: true });
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const key = (file: string) =>
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f(file));

  key('ca.key');
  openssl(
    'req',
    '-x509',
    '-new',
    '-key',
    f('ca.key'),
    '-subj',
    '/CN=turnkey test CA',
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
    '-out',
    f('ca.pem'),
  );
  const cn = opts.names?.[0] ?? opts.ips[0] ?? 'turnkey';
  const san = [...opts.ips.map((ip) => `IP:${ip}`), ...(opts.names ?? []).map((n) => `DNS:${n}`)];
  const leaf = (name: string) => {
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
    return {
      certPem: readFileSync(f(`${name}.pem`), 'utf8'),
      keyPem: readFileSync(f(`${name}.key`), 'utf8'),
    };
  };
  writeFileSync(
    f('leaf.ext'),
    `subjectAltName=${san.join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  leaf('leaf');
  let renewals = 0;
  const read = (name: string) => readFileSync(f(name), 'utf8');
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
