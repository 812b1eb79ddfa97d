import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';

/**
 * The shipped turnserver.conf's denied-peer-ip ranges, each judged as Coturn judges it:
 * ioa_addr_in_range and addr_less_eq in src/client/ns_turn_ioaddr.c (coturn/coturn 8024aa6).
 */

const conf = readFileSync(join(__dirname, '../../coturn/turnserver.conf'), 'utf8');

export const AF_INET = 2;
export const AF_INET6 = 10;
export type Addr = { family: number; n: bigint };
export type Range = { text: string; min: Addr; max: Addr };

export const addr = (ip: string): Addr => {
  const a = ipaddr.parse(ip);
  const n = a.toByteArray().reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
  return { family: a.kind() === 'ipv6' ? AF_INET6 : AF_INET, n };
};

/** The address of `family` whose number is `n`, as text. */
export const addrText = (family: number, n: bigint): string => {
  const bytes = family === AF_INET6 ? 16 : 4;
  const out: number[] = [];
  for (let i = bytes - 1; i >= 0; i--) out.push(Number((n >> BigInt(8 * i)) & 0xffn));
  return ipaddr.fromByteArray(out).toString();
};

export const isZero = (a: Addr) => a.n === 0n;
const lessEq = (a: Addr, b: Addr) => (a.family !== b.family ? a.family < b.family : a.n <= b.n);
export const inRange = (r: Range, a: Addr) =>
  (isZero(r.min) || lessEq(r.min, a)) && (isZero(r.max) || lessEq(a, r.max));

export const ranges: Range[] = conf
  .split('\n')
  .filter((l) => l.startsWith('denied-peer-ip='))
  .map((l) => {
    const text = l.slice('denied-peer-ip='.length).trim();
    const [lo, hi = lo] = text.split('-') as [string, string?];
    return { text, min: addr(lo), max: addr(hi) };
  });

/** Whether Coturn refuses `ip` as a peer by the shipped deny list. */
export const denied = (ip: string) => ranges.some((r) => inRange(r, addr(ip)));
