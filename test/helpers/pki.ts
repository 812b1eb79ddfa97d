import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A throwaway CA and a leaf it signed whose SANs are `ips` and `names` (openssl). */
export function makeTestPki(dir: string, san: { ips: string[]; names?: string[] }) {
  const f = (name: string) => join(dir, name);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=turnkey test CA',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
  ]);
  openssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=turnkey test relay',
    '-keyout',
    f('leaf.key'),
    '-out',
    f('leaf.csr'),
  ]);
  const alt = [...san.ips.map((ip) => `IP:${ip}`), ...(san.names ?? []).map((n) => `DNS:${n}`)];
  writeFileSync(f('leaf.ext'), `subjectAltName=${alt.join(',')}\n`);
  openssl([
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
  ]);
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
