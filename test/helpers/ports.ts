import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/**
 * Fixed ports for servers that cannot listen on port 0 (turnserver), chosen below the
 * ephemeral range (32768+) so that client sockets never collide with them.
 */
const LOW = 20_000;
const HIGH = 32_000;

function udpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    s.once('error', () => resolve(false));
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}

function tcpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** `count` consecutive ports free for UDP and TCP on 127.0.0.1 and ::1. */
export async function freePortBlock(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = LOW + Math.floor(Math.random() * (HIGH - LOW - count));
    let ok = true;
    for (let p = base; ok && p < base + count; p++) {
      for (const host of ['127.0.0.1', '::1']) {
        ok = ok && (await udpFree(p, host)) && (await tcpFree(p, host));
      }
    }
    if (ok) return base;
  }
  throw new Error(`no block of ${count} free ports between ${LOW} and ${HIGH}`);
}
