import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A test CA whose leaves for 127.0.0.1 have chosen validity periods: a few days (renewal
 * overdue), or dates entirely in the past or the future. `openssl ca` takes explicit dates
 * (-startdate/-enddate) in OpenSSL 3.0, where `x509 -not_before` (3.4) does not exist yet.
 */

export interface Leaf {
  cert: string;
  key: string;
}

export interface DatedPki {
  caPem: string;
  /** A leaf valid from now for `days`, or from `notBefore` to `notAfter`. */
  leaf(validity: { days: number } | { notBefore: Date; notAfter: Date }): Leaf;
}

const DAY_MS = 86_400_000;
export const daysFromNow = (days: number): Date => new Date(Date.now() + days * DAY_MS);

/** YYYYMMDDHHMMSSZ, the form `openssl ca -startdate` takes. */
const asn1Time = (d: Date) => `${d.toISOString().replace(/[-:T]|\.\d{3}/g, '')}`;

export function makeDatedPki(dir: string): DatedPki {
  mkdirSync(join(dir, 'issued'), { recursive: true });
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
    '/CN=turnkey dated test CA',
    '-days',
    '3650',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
    '-out',
    f('ca.pem'),
  );
  writeFileSync(f('index.txt'), '');
  writeFileSync(
    f('ca.cnf'),
    [
      '[ca]',
      'default_ca = test',
      '[test]',
      `database = ${f('index.txt')}`,
      `new_certs_dir = ${f('issued')}`,
      `serial = ${f('serial')}`,
      'rand_serial = yes',
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      '[any]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
  writeFileSync(
    f('leaf.ext'),
    'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  let leaves = 0;
  return {
    caPem: readFileSync(f('ca.pem'), 'utf8'),
    leaf: (validity) => {
      const name = `leaf-${++leaves}`;
      key(`${name}.key`);
      openssl(
        'req',
        '-new',
        '-key',
        f(`${name}.key`),
        '-subj',
        '/CN=127.0.0.1',
        '-out',
        f(`${name}.csr`),
      );
      const dates =
        'days' in validity
          ? ['-days', String(validity.days)]
          : ['-startdate', asn1Time(validity.notBefore), '-enddate', asn1Time(validity.notAfter)];
      openssl(
        'ca',
        '-batch',
        '-notext',
        '-config',
        f('ca.cnf'),
        '-cert',
        f('ca.pem'),
        '-keyfile',
        f('ca.key'),
        '-in',
        f(`${name}.csr`),
        '-extfile',
        f('leaf.ext'),
        ...dates,
        '-out',
        f(`${name}.pem`),
      );
      return {
        cert: readFileSync(f(`${name}.pem`), 'utf8'),
        key: readFileSync(f(`${name}.key`), 'utf8'),
      };
    },
  };
}
