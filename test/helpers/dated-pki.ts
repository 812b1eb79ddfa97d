import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { opensslIn } from '../lab/pki';

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
  const { f, openssl, read, ca, csr, leafExtensions } = opensslIn(dir);
  mkdirSync(join(dir, 'issued'), { recursive: true });
  ca('/CN=turnkey dated test CA', 3650);
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
  leafExtensions(['IP:127.0.0.1']);
  let leaves = 0;
  return {
    caPem: read('ca.pem'),
    leaf: (validity) => {
      const name = `leaf-${++leaves}`;
      csr(name, '127.0.0.1');
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
      return { cert: read(`${name}.pem`), key: read(`${name}.key`) };
    },
  };
}
