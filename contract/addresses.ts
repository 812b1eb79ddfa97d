import { BlockList, isIP } from 'node:net';

/**
 * Address ranges the stack reader and the TURN diagnosis both judge by: one list, so "private"
 * means the same when a bind address is checked and when a relayed address is read back.
 */

type Range = readonly [network: string, prefix: number, family: 'ipv4' | 'ipv6'];

/** Loopback. */
const LOOPBACK: readonly Range[] = [
  ['127.0.0.0', 8, 'ipv4'],
  ['::1', 128, 'ipv6'],
];
/** RFC 1918, CGNAT (e.g. Tailscale), IPv6 unique-local: reachable only inside a network. */
const PRIVATE: readonly Range[] = [
  ['10.0.0.0', 8, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['fc00::', 7, 'ipv6'],
];
/** This-network, link-local and the unspecified and IPv4-compatible IPv6 forms. */
const OTHER_NON_PUBLIC: readonly Range[] = [
  ['0.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['::', 127, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
];

function blockList(...lists: (readonly Range[])[]): BlockList {
  const list = new BlockList();
  for (const [network, prefix, family] of lists.flat()) list.addSubnet(network, prefix, family);
  return list;
}

const LOOPBACK_OR_PRIVATE = blockList(LOOPBACK, PRIVATE);
const NON_PUBLIC = blockList(LOOPBACK, PRIVATE, OTHER_NON_PUBLIC);

const family = (ip: string) => (isIP(ip) === 6 ? 'ipv6' : 'ipv4');

/** Loopback or private: not reachable from the internet (where plain HTTP may listen). */
export const isLoopbackOrPrivate = (ip: string): boolean =>
  isIP(ip) !== 0 && LOOPBACK_OR_PRIVATE.check(ip, family(ip));

/** An address a relay may announce to browsers: none of the ranges above. */
export const isPublicAddress = (ip: string): boolean =>
  isIP(ip) !== 0 && !NON_PUBLIC.check(ip, family(ip));

/** 0.0.0.0 or ::, which means every interface. */
export const isUnspecified = (ip: string): boolean => ip === '0.0.0.0' || ip === '::';

/** What a 1:1 NAT forwards to: RFC 1918, CGNAT and IPv6 unique-local, as text for messages. */
export const PRIVATE_RANGES_TEXT =
  '10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 or fc00::/7';

const PRIVATE_ONLY = blockList(PRIVATE);
/** Ranges a private half could fall in by mistake, each with the reason it is refused. */
const NEVER_PRIVATE: readonly [BlockList, string][] = [
  [blockList([['0.0.0.0', 8, 'ipv4']]), 'the unspecified ("this network") address'],
  [blockList([['::', 128, 'ipv6']]), 'the unspecified address'],
  [blockList(LOOPBACK), 'a loopback address'],
  [
    blockList([
      ['169.254.0.0', 16, 'ipv4'],
      ['fe80::', 10, 'ipv6'],
    ]),
    'a link-local address',
  ],
  [
    blockList([
      ['224.0.0.0', 4, 'ipv4'],
      ['ff00::', 8, 'ipv6'],
    ]),
    'a multicast address',
  ],
  [blockList([['255.255.255.255', 32, 'ipv4']]), 'the broadcast address'],
];

/**
 * Why `ip` cannot be the private half of `external-ip=PUBLIC/PRIVATE`, or undefined when it can.
 * Coturn adds the private half to its allowed peers, which it checks before its deny list, and
 * a range whose lower end is the zero address matches every address
 * (src/apps/relay/mainrelay.c `case 'X'`, src/client/ns_turn_ioaddr.c `ioa_addr_in_range`):
 * anything but one private address would reopen what the deny list closes.
 */
export function privateHalfProblem(ip: string): string | undefined {
  if (isIP(ip) === 0) return 'not an IP address';
  for (const [list, reason] of NEVER_PRIVATE) if (list.check(ip, family(ip))) return reason;
  return PRIVATE_ONLY.check(ip, family(ip)) ? undefined : 'not a private address';
}
