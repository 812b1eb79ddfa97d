import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AF_INET6, addrText, denied, ranges } from '../helpers/deny-list';

/**
 * coturn/entrypoint.sh relays from the host's public addresses when the deployment names none
 * (default_relay_ips): `public_address` decides which those are. An address the shipped deny
 * list refuses as a peer is no address to relay from (no peer could answer it), so the two must
 * agree: for IPv4 exactly, for IPv6 `public_address` also keeps to global unicast (2000::/3),
 * where every relay's public IPv6 address is.
 */

const script = readFileSync(join(__dirname, '../../coturn/entrypoint.sh'), 'utf8');
const fn = /^public_address\(\) \{\n[\s\S]*?\n\}\n/m.exec(script)?.[0] as string;

/** `public_address` of each address, run by the shell the image runs the entrypoint with. */
function verdicts(ips: string[]): Map<string, boolean> {
  const out = execFileSync(
    'sh',
    [
      '-c',
      `${fn}\nfor ip; do if public_address "$ip"; then echo "$ip yes"; else echo "$ip no"; fi; done`,
      'sh',
      ...ips,
    ],
    { encoding: 'utf8' },
  );
  return new Map(
    out
      .trim()
      .split('\n')
      .map((l) => l.split(' ') as [string, string])
      .map(([ip, v]) => [ip, v === 'yes']),
  );
}

/** Each denied range's ends and the addresses just outside them. */
const edges = ranges.flatMap((r) => {
  const { family } = r.min;
  const top = family === AF_INET6 ? (1n << 128n) - 1n : (1n << 32n) - 1n;
  return [r.min.n - 1n, r.min.n, r.max.n, r.max.n + 1n]
    .filter((n) => n >= 0n && n <= top)
    .map((n) => addrText(family, n));
});
const publicOnes = [
  '11.0.0.10',
  '8.8.8.8',
  '100.128.0.1',
  '3ffe:11::10',
  '2600::1',
  '2a00:1450::5',
];

describe('public_address in coturn/entrypoint.sh', () => {
  it('calls an IPv4 address public exactly when the shipped deny list lets it be a peer', () => {
    const ipv4 = [...edges.filter((ip) => !ip.includes(':')), ...publicOnes.slice(0, 3)];
    const got = verdicts(ipv4);
    for (const ip of ipv4) expect(got.get(ip), ip).toBe(!denied(ip));
  });

  it('calls no IPv6 address public that the deny list refuses, and every allowed global unicast one public', () => {
    const ipv6 = [...edges.filter((ip) => ip.includes(':')), ...publicOnes.slice(3)];
    const got = verdicts(ipv6);
    for (const ip of ipv6) {
      if (denied(ip)) expect(got.get(ip), ip).toBe(false);
      else if (/^[23]/.test(ip) && ip.split(':')[0]?.length === 4)
        expect(got.get(ip), ip).toBe(true);
    }
    for (const ip of publicOnes.slice(3)) expect(got.get(ip), ip).toBe(true);
  });

  it('calls nothing public that is not an address', () => {
    const junk = ['', '1.2.3', '1.2.3.4.5', 'a.b.c.d', '1..2.3', 'g::1', '12345::1'];
    const got = verdicts(junk.filter(Boolean));
    for (const ip of junk.filter(Boolean)) expect(got.get(ip), ip).toBe(false);
  });
});
