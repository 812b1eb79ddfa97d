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

/** An address as a number, with its width in bits (32 or 128), or undefined when not an IP. */
function ipValue(ip: string): { value: bigint; bits: 32 | 128 } | undefined {
  const kind = isIP(ip);
  if (kind === 4)
    return { value: ip.split('.').reduce((n, o) => (n << 8n) | BigInt(o), 0n), bits: 32 };
  if (kind !== 6) return undefined;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes its two groups.
  const dotted = ip.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  const v4 = dotted ? (ipValue(dotted[2] as string)?.value ?? 0n) : 0n;
  const text = dotted
    ? `${dotted[1]}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`
    : ip;
  const [head = '', tail] = text.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return { value: all.reduce((n, g) => (n << 16n) | BigInt(`0x${g}`), 0n), bits: 128 };
}

type Span = { start: bigint; end: bigint; bits: 32 | 128 };

function span(network: string, prefix: number): Span {
  const ip = ipValue(network) as { value: bigint; bits: 32 | 128 };
  const size = 1n << BigInt(ip.bits - prefix);
  return { start: ip.value, end: ip.value + size - 1n, bits: ip.bits };
}

const inside = (a: Span, b: Span) => a.bits === b.bits && a.start >= b.start && a.end <= b.end;
const LOOPBACK_SPANS = LOOPBACK.map(([network, prefix]) => span(network, prefix));

/**
 * Cloud metadata services at addresses a private range may hold: Alibaba Cloud's
 * 100.100.100.200 (in 100.64.0.0/10; coturn/entrypoint.sh leaves it out of any allowed range
 * that holds it) and AWS's fd00:ec2::254. The usual 169.254.169.254 is link-local.
 */
export const METADATA_IN_PRIVATE = ['100.100.100.200', 'fd00:ec2::254'] as const;

/** The ranges turnkey:allowedPeerIps may open, as text for messages. */
export const ALLOWABLE_RANGES_TEXT = '10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10';

const ALLOWABLE = PRIVATE.filter(([, , f]) => f === 'ipv4').map(([n, p]) => span(n, p));
const LINK_LOCAL = [span('169.254.0.0', 16), span('fe80::', 10)];
const UNIQUE_LOCAL = span('fc00::', 7);

/**
 * Why `entry` cannot be one of turnkey:allowedPeerIps (TURN_ALLOWED_PEER_IPS), or undefined.
 * Coturn checks allowed-peer-ip before its deny list (src/server/ns_turn_server.c
 * good_peer_addr), so an allowance must stay inside the private ranges the deny list closes:
 * a CIDR range (a bare address is one host) inside one private IPv4 range, or loopback on a
 * relay that listens and relays on loopback alone (`loopbackOnly`). IPv6 unique-local ranges
 * are refused because Coturn 4.18 refuses such peers before it reads its allow list
 * (ioa_addr_is_internal_deny_default): an allowance there would promise what never works.
 * coturn/entrypoint.sh `allowed_range_problem` applies the same rule.
 */
export function allowedPeerRangeProblem(entry: string, loopbackOnly: boolean): string | undefined {
  const [network = '', prefixText, extra] = entry.split('/');
  const ip = ipValue(network);
  if (!ip || extra !== undefined || (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)))
    return 'is not a CIDR range like 10.20.0.0/16';
  const prefix = prefixText === undefined ? ip.bits : Number(prefixText);
  if (prefix > ip.bits) return `has a prefix longer than ${ip.bits} bits`;
  const hostBits = (1n << BigInt(ip.bits - prefix)) - 1n;
  if ((ip.value & hostBits) !== 0n)
    return `has bits set past its /${prefix}: did you mean ${numberToIp(ip.value & ~hostBits, ip.bits)}/${prefix}`;
  const range: Span = { start: ip.value, end: ip.value | hostBits, bits: ip.bits };
  const metadata = METADATA_IN_PRIVATE.map((m) => ipValue(m) as { value: bigint; bits: 32 | 128 });
  if (
    range.start === range.end &&
    metadata.some((m) => m.value === range.start && m.bits === ip.bits)
  )
    return 'is a cloud metadata service, which no relay peer may reach';
  if (LINK_LOCAL.some((l) => inside(range, l)))
    return 'is link-local, where cloud metadata services answer (169.254.169.254): never a relay peer';
  if (LOOPBACK_SPANS.some((l) => inside(range, l)))
    return loopbackOnly
      ? undefined
      : 'is loopback: only a relay that listens and relays on loopback alone (turnkey:listeningIps 127.0.0.1) may reach loopback peers';
  if (inside(range, UNIQUE_LOCAL))
    return 'is IPv6 unique-local (fc00::/7), which Coturn 4.18 never relays to, whatever its allow list says';
  if (ALLOWABLE.some((p) => inside(range, p))) return undefined;
  return `is not inside one private range (${ALLOWABLE_RANGES_TEXT}): public peers need no allowance, and a wider range would reopen the deny list (metadata, loopback, every other network)`;
}

function numberToIp(value: bigint, bits: 32 | 128): string {
  if (bits === 32) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  const groups = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((value >> s) & 0xffffn).toString(16));
  // Shortest form, as people write it.
  return groups
    .join(':')
    .replace(/(^|:)0(:0)+(:|$)/, '::')
    .replace(/:{3,}/, '::');
}

const LOOPBACK_ONLY = blockList(LOOPBACK);
/** 127.0.0.0/8 or ::1. */
export const isLoopback = (ip: string): boolean =>
  isIP(ip) !== 0 && LOOPBACK_ONLY.check(ip, family(ip));
