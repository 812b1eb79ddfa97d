import { join } from 'node:path';
import type { Lab } from './lab';

/** UDP listeners and probes inside lab namespaces (test/lab/udp-tool.js, run by this Node). */

const TOOL = join(__dirname, 'udp-tool.js');

export interface Datagram {
  to: string;
  from: string;
  bytes: number;
}

export interface Listener {
  /** Every datagram that arrived so far. */
  received(): Datagram[];
  stop(): void;
}

/** Listens on `ip` at each port; each datagram is answered with its sender's address. */
export async function listenUdp(
  lab: Lab,
  ns: string,
  ip: string,
  ports: number[],
): Promise<Listener> {
  const child = lab.spawn(ns, [process.execPath, TOOL, 'listen', ip, ports.join(',')]);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    err += d;
  });
  await new Promise<void>((resolve, reject) => {
    const check = setInterval(() => {
      if (out.startsWith('ready\n')) {
        clearInterval(check);
        resolve();
      } else if (child.exitCode !== null) {
        clearInterval(check);
        reject(new Error(`UDP listener on ${ip} in ${ns} exited: ${err}`));
      }
    }, 20);
  });
  return {
    received: () =>
      out
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Datagram),
    stop: () => child.kill('SIGKILL'),
  };
}

export interface ProbeResult {
  /** The sending socket's local port. */
  local: number;
  /** Each reply: who answered and the source address it saw for us. */
  replies: { from: string; saw: string }[];
}

/** Sends one datagram to each destination from one socket and collects the answers. */
export async function probeUdp(lab: Lab, ns: string, dests: string[]): Promise<ProbeResult> {
  const r = await lab.exec(ns, [process.execPath, TOOL, 'send', dests.join(',')], {
    timeoutMs: 10_000,
  });
  if (r.code !== 0) throw new Error(`UDP probe from ${ns} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as ProbeResult;
}
