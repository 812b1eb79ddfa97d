import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { AF_INET, AF_INET6, addr, denied, inRange, isZero, ranges } from '../helpers/deny-list';

/**
 * The shipped turnserver.conf must deny relaying to every special-purpose range (IANA's IPv4
 * and IPv6 special-purpose registries, plus multicast) and to nothing else, without ever
 * sending a packet there. Each range is judged as Coturn judges it, not as a set of CIDRs:
 * ioa_addr_in_range and addr_less_eq in src/client/ns_turn_ioaddr.c (coturn/coturn 8024aa6):
 *
 *   in range  =  (min is all zeros || min <= addr)  &&  (max is all zeros || addr <= max)
 *   a <= b    =  different families ? family(a) < family(b) (AF_INET 2 < AF_INET6 10)
 *                                   : a's address <= b's address
 *
 * So a range whose lower bound is :: contains every IPv4 address. (Newer Coturns also reduce
 * an IPv6 peer that embeds an IPv4 address before comparing it with an IPv4 range; this check
 * does not count on that, so the IPv6 forms must be denied by IPv6 ranges of their own.)
 */

/** Whether Coturn denies every address from `first` to `last` (one family). */
function coveredFrom(first: string, last: string): boolean {
  const { family, n: lo } = addr(first);
  const hi = addr(last).n;
  const intervals = ranges
    .filter((r) => r.min.family === family && r.max.family === family)
    .map((r) => [isZero(r.min) ? 0n : r.min.n, r.max.n] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));
  let next = lo;
  for (const [a, b] of intervals) {
    if (a > next) break;
    if (b >= next) next = b + 1n;
    if (next > hi) return true;
  }
  return next > hi;
}

/** Whether Coturn denies every address of a CIDR. */
function covered(cidr: string): boolean {
  const net = ipaddr.parseCIDR(cidr)[0].kind() === 'ipv6' ? ipaddr.IPv6 : ipaddr.IPv4;
  return coveredFrom(
    net.networkAddressFromCIDR(cidr).toString(),
    net.broadcastAddressFromCIDR(cidr).toString(),
  );
}

describe('denied-peer-ip in coturn/turnserver.conf, as Coturn reads it', () => {
  it('parses', () => {
    expect(ranges.length).toBeGreaterThan(20);
  });

  it('has no IPv6 range starting at :: (Coturn would read it as every IPv4 address too)', () => {
    expect(
      ranges.filter((r) => r.min.family === AF_INET6 && isZero(r.min)).map((r) => r.text),
    ).toEqual([]);
  });

  it('has ranges whose bounds are one family, in order, and that match only that family', () => {
    const otherFamily = {
      [AF_INET]: ['::1', '2606:4700::1111', 'ffff::1'],
      [AF_INET6]: ['0.0.0.1', '1.1.1.1', '255.255.255.255'],
    };
    for (const r of ranges) {
      expect(r.min.family, r.text).toBe(r.max.family);
      expect(r.min.n <= r.max.n, r.text).toBe(true);
      for (const ip of otherFamily[r.min.family as typeof AF_INET]) {
        expect(inRange(r, addr(ip)), `${ip} in ${r.text}`).toBe(false);
      }
    }
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
    ['::1/128', 'loopback'],
    ['::ffff:0:0/96', 'IPv4-mapped (CVE-2026-27624)'],
    ['::ffff:0:0:0/96', 'IPv4-translated (RFC 2765)'],
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
    expect(covered(range)).toBe(true);
  });

  it('covers all of ::/8 but :: itself (refused natively as the zero address)', () => {
    // IPv4-compatible ::/96, IPv4-mapped, IPv4-translated ::ffff:0:0:0/96 and every other
    // spelling of an IPv4 address in the reserved ::/8.
    expect(coveredFrom('::1', 'ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')).toBe(true);
    for (const ip of ['::ffff:0:7f00:1', '::1:7f00:1', '0:0:1::7f00:1', '::a00:1', 'ff::1'])
      expect(denied(ip), ip).toBe(true);
  });

  it.each([
    '1.1.1.1',
    '8.8.8.8',
    '11.0.0.10',
    '100.128.0.1',
    '172.32.0.1',
    '192.169.0.1',
    '223.255.255.254',
    '2606:4700::1111',
    '2a00:1450::1',
    '2001:200::1',
    '100:0:0:1::1',
  ])('leaves the public address %s relayable', (ip) => {
    expect(denied(ip)).toBe(false);
  });
});
