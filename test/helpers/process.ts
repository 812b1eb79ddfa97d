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
  /** Everything written to stdout and stderr so far ('' when output is discarded). */
  output(): string;
  exited: Promise<number | null>;
  /** SIGTERM (what Docker sends), then the exit code. */
  stop(): Promise<number | null>;
}

export interface SpawnOptions {
  /** The program (default: the service bundle); benchmarks run their comparison servers. */
  script?: string;
  /**
   * 'collect' (default): stdout and stderr kept for output(), start-up awaited by the service's
   * "listening on" line. 'discard': stdout to /dev/null (a benchmark measures the logging, not
   * a reader), start-up awaited by GET /healthz answering.
   */
  output?: 'collect' | 'discard';
  /** false: return at once, not waiting for start-up (what a start-up benchmark measures). */
  wait?: boolean;
  /** Pins the process to this core (`taskset -c`): the benchmarks' pinned method. */
  cpu?: number;
  /** Starts the process elsewhere, e.g. in a lab namespace (default: a child of this one). */
  spawn?: (argv: string[], env: Record<string, string>) => ChildProcess;
}

/**
 * The service (or a benchmark's server) as its own process on 127.0.0.1:`port`, with exactly
 * `env` over a minimal base (PATH, HOST, PORT, METRICS_PORT=0): what tests and benchmarks share.
 */
export async function spawnService(
  env: Record<string, string>,
  port: number,
  opts: SpawnOptions = {},
): Promise<ServiceProcess> {
  const node = [process.execPath, opts.script ?? serviceBundle()];
  const argv = opts.cpu === undefined ? node : ['taskset', '-c', String(opts.cpu), ...node];
  const fullEnv = {
    PATH: process.env.PATH ?? '',
    HOST: '127.0.0.1',
    PORT: String(port),
    METRICS_PORT: '0',
    ...env,
  };
  const discard = opts.output === 'discard';
  const child = opts.spawn
    ? opts.spawn(argv, fullEnv)
    : spawn(argv[0] as string, argv.slice(1), {
        env: fullEnv,
        stdio: ['ignore', discard ? 'ignore' : 'pipe', discard ? 'inherit' : 'pipe'],
      });
  const output = discard ? () => '' : collectOutput(child);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = `http://${fullEnv.HOST}:${port}`;
  const started = async () => {
    if (!discard) return output().includes('listening on');
    return fetch(`${url}/healthz`).then(
      () => true,
      () => false,
    );
  };
  const deadline = Date.now() + 15_000;
  while (opts.wait !== false && !(await started())) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`service did not start:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    url,
    metricsUrl: /metrics on (\S+)\/metrics/.exec(output())?.[1] ?? '',
    output,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
