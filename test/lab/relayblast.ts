import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../helpers/coturn';
import type { LabCoturn } from './coturn';
import type { Lab } from './lab';

const PEER_BASE_PORT = 20000;

/** What the generator needs of a relay: where it listens and how it mints credentials. */
export type RelayTarget = Pick<LabCoturn, 'publicIp' | 'turnPort' | 'credential'>;

/**
 * Compiles test/lab/relayblast.c (a TURN data-plane load generator and peer, see its header)
 * with the machine's gcc into .cache/ and returns the binary's path.
 */
export function buildRelayblast(): string {
  const out = join(REPO, '.cache/relayblast/relayblast');
  mkdirSync(join(REPO, '.cache/relayblast'), { recursive: true });
  try {
    execFileSync('gcc', ['-O2', '-o', out, join(REPO, 'test/lab/relayblast.c'), '-lcrypto'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (err) {
    const detail = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err);
    throw new Error(
      `cannot compile test/lab/relayblast.c (needs gcc and OpenSSL headers: apt-get install gcc libc6-dev libssl-dev): ${detail}`,
    );
  }
  return out;
}

/** A line-oriented child process: send a command, await the next output line. */
class Tool {
  private lines: string[] = [];
  private waiters: ((l: string | undefined) => void)[] = [];
  private err = '';
  private exited: string | undefined;
  constructor(readonly child: ChildProcess) {
    child.once('exit', (code) => {
      this.exited = `relayblast exited (${code}): ${this.err.trim()}`;
      for (const w of this.waiters.splice(0)) w(undefined);
    });
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.err += d.toString();
    });
  }
  send(text: string) {
    this.child.stdin?.write(text);
  }
  next(timeoutMs = 60_000): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`relayblast did not answer: ${this.err.trim() || '(no output)'}`)),
        timeoutMs,
      );
      this.waiters.push((l) => {
        clearTimeout(timer);
        if (l === undefined) reject(new Error(this.exited));
        else resolve(l);
      });
    });
  }
  stop() {
    this.child.kill('SIGKILL');
  }
}

function inNs(ns: string, cpu: string | undefined, argv: string[]): Tool {
  const pin = cpu === undefined ? [] : ['taskset', '-c', cpu];
  return new Tool(
    spawn('ip', ['netns', 'exec', ns, ...pin, ...argv], {
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
}

export interface Probe {
  sent: number;
  /** Seconds the sender took: longer than asked when it could not keep the rate. */
  elapsed: number;
  recv: number;
  p50: number;
  p99: number;
}

/**
 * A client on the lab's backend host with `allocations` allocations on `server`, allocation i
 * bound on channel 0x4000 to the peer host at PEER_BASE_PORT + i, where relayblast listens.
 * Without a server, only `direct` probes (straight to the peers, the baseline).
 */
export class RelayblastSession {
  private probes = 0;
  private constructor(
    private sender: Tool,
    private receiver: Tool,
  ) {}

  static async open(
    lab: Lab,
    bin: string,
    server: RelayTarget | undefined,
    allocations: number,
    cpu?: string,
  ): Promise<RelayblastSession> {
    const receiver = inNs(lab.peer.ns, cpu, [
      bin,
      'recv',
      lab.peer.ip,
      String(PEER_BASE_PORT),
      String(allocations),
    ]);
    if ((await receiver.next()) !== 'ready') throw new Error('the peers did not start');
    // Server port 0: no relay, the sender only sends straight to the peers (the baseline).
    const sender = inNs(lab.backend.ns, cpu, [
      bin,
      'send',
      server?.publicIp ?? lab.relay.ip,
      String(server?.turnPort ?? 0),
      lab.peer.ip,
      String(PEER_BASE_PORT),
      String(allocations),
    ]);
    for (let i = 0; server && i < allocations; i++) {
      const c = server.credential(`bench-${i}`);
      sender.send(`${c.username} ${c.credential}\n`);
    }
    const ready = await sender.next();
    if (!ready.startsWith('ready')) throw new Error(`allocations failed: ${ready}`);
    return new RelayblastSession(sender, receiver);
  }

  /** Sends `pps` packets of `size` bytes for `seconds`; what arrived, and its latency in µs. */
  async probe(
    mode: 'blast' | 'direct',
    pps: number,
    seconds: number,
    size: number,
  ): Promise<Probe> {
    const id = ++this.probes;
    this.receiver.send(`stat ${id}\n`);
    await this.receiver.next();
    this.sender.send(`${mode} ${pps} ${seconds} ${size} ${id}\n`);
    const s = /sent=(\d+) us=(\d+)/.exec(await this.sender.next());
    if (!s) throw new Error('unreadable sender stats');
    const sent = Number(s[1]);
    const elapsed = Number(s[2]) / 1e6;
    // Queued packets still arrive after the last send: wait until the count stops growing.
    let m: RegExpExecArray | null = null;
    for (let last = -1; ; ) {
      await new Promise((r) => setTimeout(r, 200));
      this.receiver.send(`stat ${id}\n`);
      m = /recv=(\d+) p50=(-?\d+) p99=(-?\d+)/.exec(await this.receiver.next());
      if (!m) throw new Error('unreadable receiver stats');
      if (Number(m[1]) >= sent || Number(m[1]) === last) break;
      last = Number(m[1]);
    }
    return { sent, elapsed, recv: Number(m[1]), p50: Number(m[2]), p99: Number(m[3]) };
  }

  async close(): Promise<void> {
    this.sender.send('quit\n');
    await this.sender.next(10_000).catch(() => undefined);
    this.sender.stop();
    this.receiver.stop();
  }
}

export interface PairResult {
  /** ChannelBind outcome per client (0 = success, else the TURN error code). */
  bind: [number, number];
  /** Whether each client's ChannelData reached the other. */
  delivered: [boolean, boolean];
}

/**
 * Two clients in `ns` (e.g. behind a NAT that forces relaying), each with an allocation on
 * `server`, relaying to each other's relayed address: what a call between two relayed
 * browsers on one relay does.
 */
export async function relayedPair(
  lab: Lab,
  bin: string,
  server: LabCoturn,
  ns: string,
): Promise<PairResult> {
  const creds = ['a', 'b']
    .map((u) => server.credential(`pair-${u}-${Date.now()}`))
    .map((c) => `${c.username} ${c.credential}\n`)
    .join('');
  const r = await lab.exec(ns, [bin, 'pair', server.publicIp, String(server.turnPort)], {
    input: creds,
    timeoutMs: 30_000,
  });
  const field = (name: string) => Number(new RegExp(`${name}=(\\d+)`).exec(r.stdout)?.[1] ?? -1);
  if (field('bind0') < 0) throw new Error(`relayblast pair failed: ${r.stderr || r.stdout}`);
  return {
    bind: [field('bind0'), field('bind1')],
    delivered: [field('delivered0') === 1, field('delivered1') === 1],
  };
}
