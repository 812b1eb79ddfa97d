import { join } from 'node:path';
import { freePortBlock } from '../test/helpers/ports';
import { type ServiceProcess, spawnService } from '../test/helpers/process';
import { REPO_ROOT } from '../test/helpers/stack';

/**
 * A server under test in its own process (test/helpers/process.ts, the tests' spawner), its
 * stdout discarded: production logging still formats and writes every line, only the reader
 * is /dev/null.
 */
export type BenchServer = ServiceProcess;

/** `taskset -c CPU` before argv when `cpu` is given: the pinned method of service-throughput. */
export const pinned = (cpu: number | undefined, argv: string[]): string[] =>
  cpu === undefined ? argv : ['taskset', '-c', String(cpu), ...argv];

export const comparisonServer = async (
  name: 'bare' | 'minimal' | 'express',
  env: Record<string, string>,
  cpu?: number,
): Promise<BenchServer> =>
  spawnService(env, await freePortBlock(1), {
    script: join(REPO_ROOT, 'bench/servers', `${name}.js`),
    output: 'discard',
    ...(cpu === undefined ? {} : { cpu }),
  });

export const shippedService = async (
  env: Record<string, string>,
  cpu?: number,
): Promise<BenchServer> =>
  spawnService(env, await freePortBlock(1), {
    output: 'discard',
    ...(cpu === undefined ? {} : { cpu }),
  });
