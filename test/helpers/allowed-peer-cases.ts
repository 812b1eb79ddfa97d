/**
 * turnkey:allowedPeerIps entries that must be refused, with the reason both readers give: the
 * stack reader (contract/addresses.ts) and coturn/entrypoint.sh (TURN_ALLOWED_PEER_IPS, set
 * directly in a compose file). One table, so the two rules cannot drift apart.
 */
export const REFUSED_ALLOWANCES: readonly [entry: string, why: RegExp][] = [
  [
    '0.0.0.0/0',
    /is not inside one private range \(10\.0\.0\.0\/8, 172\.16\.0\.0\/12, 192\.168\.0\.0\/16 or 100\.64\.0\.0\/10\)/,
  ],
  ['10.0.0.0/7', /is not inside one private range/],
  ['172.0.0.0/8', /is not inside one private range/],
  ['11.0.0.0/8', /public peers need no allowance/],
  ['169.254.169.254', /is link-local, where cloud metadata services answer \(169\.254\.169\.254\)/],
  ['169.254.0.0/16', /is link-local/],
  ['100.100.100.200/32', /is a cloud metadata service/],
  ['fd00:ec2::254', /is a cloud metadata service/],
  ['fd00::/8', /IPv6 unique-local \(fc00::\/7\), which Coturn 4\.18 never relays to/],
  ['127.0.0.1', /is loopback: only a relay that listens and relays on loopback alone/],
  ['::1', /is loopback/],
  ['::ffff:10.0.0.0/104', /is not inside one private range/],
  ['10.1.2.3/8', /has bits set past its \/8: did you mean 10\.0\.0\.0\/8/],
  ['10.0.0.0/33', /has a prefix longer than 32 bits/],
  ['10.0.0.0/', /is not a CIDR range like 10\.20\.0\.0\/16/],
  ['eth0', /is not a CIDR range/],
];
