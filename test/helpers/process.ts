import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { collectOutput } from './child-output';
import { REPO_ROOT } from './stack';

/**
 * The service as the image runs it: the same esbuild bundle, a separate process with its own
 * environment, stdout and exit code, so SIGTERM, the process list and real logs can be tested.
 */

const bundled = new Map<string, string>();

/** One file with everything `entry` (relative to the repository) needs, as the image has it. */
export function bundle(entry: string): string {
  let file = bundled.get(entry);
  if (!file) {
    file = join(mkdtempSync(join(tmpdir(), 'turnkey-bundle-')), 'main.js');
    buildSync({
      entryPoints: [join(REPO_ROOT, entry)],
      bundle: true,
      platform: 'node',
      target: 'node20',
      outfile: file,
      logLevel: 'warning',
    });
    bundled.set(entry, file);
  }
  return file;
}

export const serviceBundle = (): string => bundle('service/main.ts');

export interface ServiceProcess {
  child: ChildProcess;
  url: string;
  /** The metrics listener, as the service logged it (METRICS_PORT=0 unless env says). */
  metricsUrl: string;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

export async function spawnService(
  env: Record<string, string>,
  port: number,
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [serviceBundle()], {
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput(child);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 10_000;
  while (!output().includes('listening on')) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`service did not start:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    metricsUrl: /metrics on (\S+)\/metrics/.exec(output())?.[1] ?? '',
    output,
    exited,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
