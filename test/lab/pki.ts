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
  key('leaf.key');
  const cn = opts.names?.[0] ?? opts.ips[0] ?? 'turnkey';
  openssl('req', '-new', '-key', f('leaf.key'), '-subj', `/CN=${cn}`, '-out', f('leaf.csr'));
  const san = [...opts.ips.map((ip) => `IP:${ip}`), ...(opts.names ?? []).map((n) => `DNS:${n}`)];
  writeFileSync(
    f('leaf.ext'),
    `subjectAltName=${san.join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  openssl(
    'x509',
    '-req',
    '-in',
    f('leaf.csr'),
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
    f('leaf.pem'),
  );

  const read = (name: string) => readFileSync(f(name), 'utf8');
  return {
    caFile: f('ca.pem'),
    certFile: f('leaf.pem'),
    keyFile: f('leaf.key'),
    caPem: read('ca.pem'),
    certPem: read('leaf.pem'),
    keyPem: read('leaf.key'),
  };
}
