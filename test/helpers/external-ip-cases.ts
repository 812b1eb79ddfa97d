/**
 * turnkey:externalIp values both readers must refuse, with the reason both give: the stack
 * reader (infra/stack/read.ts checkExternalIp) and coturn/entrypoint.sh (EXTERNAL_IP, set
 * directly in a compose file). One table, so the two rules cannot drift apart.
 */

const REASON = {
  unspecified: 'the unspecified address',
  thisNetwork: 'the unspecified \\("this network"\\) address',
  loopback: 'a loopback address',
  linkLocal: 'a link-local address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  notPrivate: 'not a private address',
  notAnIp: 'not an IP address',
} as const;

/** The private half is refused: Coturn allows it as a peer before its deny list. */
const privateHalf = (ip: string, reason: keyof typeof REASON) =>
  new RegExp(
    `private half \\(${ip.replace(/\./g, '\\.')}\\) (that )?is ${REASON[reason]}: .* in 10\\.0\\.0\\.0/8, 172\\.16\\.0\\.0/12, 192\\.168\\.0\\.0/16, 100\\.64\\.0\\.0/10 or fc00::/7`,
  );

const NOT_PAIRS =
  /must be PUBLIC\/PRIVATE for 1:1 NAT, one pair or two comma-separated \(one IPv4, one IPv6\), got "/;
const EMPTY =
  /has an empty entry \(".*"\): write one PUBLIC\/PRIVATE pair, or two separated by one comma/;
const MIXED = (pair: string) =>
  new RegExp(
    `has a pair that mixes IP versions \\("${pair.replace(/\./g, '\\.')}"\\): each PUBLIC/PRIVATE pair must be of one IP version`,
  );

export const REFUSED_EXTERNAL_IPS: readonly [value: string, why: RegExp][] = [
  // More than one pair: one per IP version.
  [
    '198.51.100.7/10.0.0.5,198.51.100.8/10.0.0.6',
    /has two IPv4 pairs \(".*"\): write one PUBLIC\/PRIVATE pair per IP version, one IPv4 and one IPv6/,
  ],
  ['2001:db8::7/fd00::5,2001:db8::8/fd00::6', /has two IPv6 pairs/],
  [
    '198.51.100.7/10.0.0.5,2001:db8::7/fd00::5,198.51.100.8/10.0.0.6',
    /has 3 pairs \(".*"\): write at most two, one IPv4 PUBLIC\/PRIVATE pair and one IPv6/,
  ],
  ['198.51.100.7/10.0.0.5,', EMPTY],
  [',2001:db8::7/fd00::5', EMPTY],
  ['198.51.100.7/10.0.0.5,,2001:db8::7/fd00::5', EMPTY],
  // Each pair of one version.
  ['198.51.100.7/fd00::5', MIXED('198.51.100.7/fd00::5')],
  ['2001:db8::7/10.0.0.5', MIXED('2001:db8::7/10.0.0.5')],
  ['198.51.100.7/::', MIXED('198.51.100.7/::')],
  ['198.51.100.7/10.0.0.5,2001:db8::7/10.0.0.6', MIXED('2001:db8::7/10.0.0.6')],
  // The public address alone, in either pair.
  ['198.51.100.7/10.0.0.5,2001:db8::7', /not the public IP alone \("2001:db8::7"\)/],
  ['2001:db8::7', /not the public IP alone \("2001:db8::7"\)/],
  // Not addresses.
  ['198.51.100.7/10.0.0.5/10.0.0.6', NOT_PAIRS],
  ['2001:db8::7::1/fd00::5', NOT_PAIRS],
  ['198.51.100/10.0.0.5', NOT_PAIRS],
  // The private half: one private address, whichever pair it is in.
  ['198.51.100.7/0.0.0.0', privateHalf('0.0.0.0', 'thisNetwork')],
  ['2001:db8::7/::', privateHalf('::', 'unspecified')],
  ['198.51.100.7/127.0.0.1', privateHalf('127.0.0.1', 'loopback')],
  ['2001:db8::7/0:0:0:0:0:0:0:1', privateHalf('0:0:0:0:0:0:0:1', 'loopback')],
  ['198.51.100.7/169.254.169.254', privateHalf('169.254.169.254', 'linkLocal')],
  ['2001:db8::7/fe80::1', privateHalf('fe80::1', 'linkLocal')],
  ['198.51.100.7/10.0.0.5,2001:db8::7/fe80::1', privateHalf('fe80::1', 'linkLocal')],
  ['198.51.100.7/239.1.1.1', privateHalf('239.1.1.1', 'multicast')],
  ['2001:db8::7/ff02::1', privateHalf('ff02::1', 'multicast')],
  ['198.51.100.7/255.255.255.255', privateHalf('255.255.255.255', 'broadcast')],
  ['198.51.100.7/198.51.100.7', privateHalf('198.51.100.7', 'notPrivate')],
  ['2001:db8::7/2001:db8::8', privateHalf('2001:db8::8', 'notPrivate')],
  ['2001:db8::7/fd00::5,198.51.100.7/8.8.8.8', privateHalf('8.8.8.8', 'notPrivate')],
  ['198.51.100.7/010.0.0.5', privateHalf('010.0.0.5', 'notAnIp')],
  ['2001:db8::7/fd00::5::1', privateHalf('fd00::5::1', 'notAnIp')],
];

/** Values both accept: one pair of either version, or one of each in either order. */
export const ACCEPTED_EXTERNAL_IPS: readonly string[] = [
  '203.0.113.7/10.0.0.5',
  '203.0.113.7/172.31.255.1',
  '203.0.113.7/192.168.1.4',
  '203.0.113.7/100.64.0.9',
  '2001:db8::7/fd00::5',
  '203.0.113.7/10.0.0.5,2001:db8::7/fd00::5',
  '2001:db8::7/fd00::5,203.0.113.7/10.0.0.5',
];
