import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePortBlock } from '../test/helpers/ports';
import { serviceBundle } from '../test/helpers/process';
import { REPO_ROOT } from '../test/helpers/stack';

/** A server under test in its own process, with stdout discarded (or sent where logs go). */
export interface BenchServer {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function waitUntilAnswering(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${url}: server exited with ${child.exitCode}`);
    try {
      await fetch(`${url}/healthz`);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${url}: not answering after 15 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** `taskset -c CPU` before argv when `cpu` is given: the pinned method of service-throughput. */
export const pinned = (cpu: number | undefined, argv: string[]): string[] =>
  cpu === undefined ? argv : ['taskset', '-c', String(cpu), ...argv];

export async function startServer(
  args: string[],
  env: Record<string, string>,
  cpu?: number,
): Promise<BenchServer> {
  const port = await freePortBlock(1);
  const [command, ...argv] = pinned(cpu, [process.execPath, ...args]) as [string, ...string[]];
  const child = spawn(command, argv, {
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_PORT: '0',
      ...env,
    },
    // Production logging still formats and writes every line; only the reader is /dev/null.
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilAnswering(url, child);
  return {
    url,
    child,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export const comparisonServer = (
  name: 'bare' | 'minimal' | 'express',
  env: Record<string, string>,
  cpu?: number,
) => startServer([join(REPO_ROOT, 'bench/servers', `${name}.js`)], env, cpu);

export const shippedService = (env: Record<string, string>, cpu?: number) =>
  startServer([serviceBundle()], env, cpu);
