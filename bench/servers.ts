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

export const comparisonServer = async (
  name: 'bare' | 'minimal' | 'express',
  env: Record<string, string>,
): Promise<BenchServer> =>
  spawnService(env, await freePortBlock(1), {
    script: join(REPO_ROOT, 'bench/servers', `${name}.js`),
    output: 'discard',
  });

export const shippedService = async (env: Record<string, string>): Promise<BenchServer> =>
  spawnService(env, await freePortBlock(1), { output: 'discard' });
