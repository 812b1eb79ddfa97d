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
