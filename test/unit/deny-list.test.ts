import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';

/**
 * The shipped turnserver.conf must deny relaying to every special-purpose range (IANA's IPv4
 * and IPv6 special-purpose registries, plus multicast), without ever sending a packet there.
 */

const conf = readFileSync(join(__dirname, '../../coturn/turnserver.conf'), 'utf8');

type Range = { v6: boolean; lo: bigint; hi: bigint };

const toBig = (ip: string): { v6: boolean; n: bigint } => {
  const addr = ipaddr.parse(ip);
  const n = addr.toByteArray().reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
  return { v6: addr.kind() === 'ipv6', n };
};

const cidr = (c: string): Range => {
  const [ip, bits] = ipaddr.parseCIDR(c);
  const { v6, n } = toBig(ip.toString());
  const width = v6 ? 128n : 32n;
  const host = (1n << (width - BigInt(bits))) - 1n;
  return { v6, lo: n & ~host, hi: n | host };
};

const denied: Range[] = conf
  .split('\n')
  .filter((l) => l.startsWith('denied-peer-ip='))
  .map((l) => {
    const [a, b = a] = l.slice('denied-peer-ip='.length).trim().split('-') as [string, string?];
    const lo = toBig(a);
    const hi = toBig(b);
    expect(lo.v6).toBe(hi.v6);
    expect(lo.n <= hi.n).toBe(true);
    return { v6: lo.v6, lo: lo.n, hi: hi.n };
  });

/** Whether the union of denied ranges covers all of `r`. */
function covered(r: Range): boolean {
  let next = r.lo;
  const ranges = denied.filter((d) => d.v6 === r.v6).sort((a, b) => (a.lo < b.lo ? -1 : 1));
  for (const d of ranges) {
    if (d.lo > next) break;
    if (d.hi >= next) next = d.hi + 1n;
    if (next > r.hi) return true;
  }
  return next > r.hi;
}

describe('denied-peer-ip in coturn/turnserver.conf', () => {
  it('parses', () => {
    expect(denied.length).toBeGreaterThan(20);
  });

  it.each([
    ['0.0.0.0/8', '"this network" (CVE-2020-26262)'],
    ['10.0.0.0/8', 'private'],
    ['100.64.0.0/10', 'carrier-grade NAT'],
    ['127.0.0.0/8', 'loopback'],
    ['169.254.0.0/16', 'link-local, cloud metadata 169.254.169.254'],
    ['172.16.0.0/12', 'private'],
    ['192.0.0.0/24', 'IETF protocol assignments'],
    ['192.0.2.0/24', 'documentation'],
    ['192.88.99.0/24', '6to4 relay anycast'],
    ['192.168.0.0/16', 'private'],
    ['198.18.0.0/15', 'benchmarking'],
    ['198.51.100.0/24', 'documentation'],
    ['203.0.113.0/24', 'documentation'],
    ['224.0.0.0/4', 'multicast'],
    ['240.0.0.0/4', 'reserved, broadcast'],
    ['::/128', 'unspecified (CVE-2020-26262)'],
    ['::1/128', 'loopback'],
    ['::/96', 'IPv4-compatible'],
    ['::ffff:0:0/96', 'IPv4-mapped (CVE-2026-27624)'],
    ['64:ff9b::/96', 'NAT64'],
    ['64:ff9b:1::/48', 'local-use NAT64'],
    ['100::/64', 'discard-only'],
    ['2001::/23', 'IETF protocol assignments, Teredo'],
    ['2001:db8::/32', 'documentation'],
    ['2002::/16', '6to4'],
    ['3fff::/20', 'documentation'],
    ['5f00::/16', 'SRv6 SIDs'],
    ['fc00::/7', 'unique local'],
    ['fe80::/10', 'link-local'],
    ['fec0::/10', 'site-local (deprecated)'],
    ['ff00::/8', 'multicast'],
  ])('covers %s (%s)', (range) => {
    expect(covered(cidr(range))).toBe(true);
  });

  it.each([
    '1.1.1.1',
    '8.8.8.8',
    '100.128.0.1',
    '172.32.0.1',
    '192.169.0.1',
    '223.255.255.254',
    '2606:4700::1111',
    '2a00:1450::1',
  ])('leaves the public address %s relayable', (ip) => {
    const { v6, n } = toBig(ip);
    expect(covered({ v6, lo: n, hi: n })).toBe(false);
  });
});
