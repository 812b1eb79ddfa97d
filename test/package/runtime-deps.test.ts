import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyCheckout } from '../helpers/checkout';
import { expectTheDevStack, pulumiUp } from '../helpers/language-host';
import { stackConfigValues } from '../helpers/stack';
import { programDirectory, requiredPlugins } from './plugin-discovery';

/**
 * `pulumi up` on a checkout installed with `npm ci --omit=dev` (a deploy runner that skips dev
 * dependencies, or the runtime option `production: true` of newer language hosts): everything
 * the program needs must be a runtime dependency. Run as the CLI runs it
 * (test/pulumi/language-host.js: the SDK's own cmd/run, with the mock runtime). Its TypeScript
 * and ts-node come from the program's node_modules: @pulumi/pulumi's tsutils.js
 * typeScriptRequireStrings() `require("typescript")` / `require("ts-node")` from the SDK's own
 * directory, and falls back to its vendored typescript@3.8.3 and ts-node@7.0.1 when they are
 * missing, which cannot compile this program.
 */

const run = promisify(execFile);

let checkout: string;

beforeAll(async () => {
  checkout = copyCheckout();
  rmSync(join(checkout, 'node_modules'), { recursive: true, force: true });
  await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: checkout,
    timeout: 600_000,
  });
}, 900_000);
afterAll(() => {
  if (checkout) rmSync(checkout, { recursive: true, force: true });
});

describe('a checkout with runtime dependencies only (npm ci --omit=dev)', () => {
  it('has none of the dev dependencies', () => {
    for (const dev of ['vitest', '@biomejs/biome', 'fast-check', 'playwright-core'])
      expect(existsSync(join(checkout, 'node_modules', dev)), dev).toBe(false);
  });

  it('has what the program loads as runtime dependencies, not as dev packages npm happened to keep', () => {
    // npm keeps a dev dependency that is also an optional peer of a runtime one (typescript and
    // ts-node are @pulumi/pulumi's): `devOptional`. pnpm, yarn or `--omit=optional` drop it.
    const lock = JSON.parse(
      readFileSync(join(checkout, 'node_modules/.package-lock.json'), 'utf8'),
    ) as { packages: Record<string, { dev?: boolean; devOptional?: boolean }> };
    const flags = Object.fromEntries(
      ['typescript', 'ts-node', '@types/node', 'esbuild'].map((pkg) => {
        const entry = lock.packages[`node_modules/${pkg}`];
        return [
          pkg,
          entry ? (entry.dev ? 'dev' : entry.devOptional ? 'devOptional' : 'runtime') : 'missing',
        ];
      }),
    );
    expect(flags).toEqual({
      typescript: 'runtime',
      'ts-node': 'runtime',
      '@types/node': 'runtime',
      esbuild: 'runtime',
    });
  });

  it('the SDK’s loader takes this TypeScript and ts-node, not its vendored typescript@3.8.3 and ts-node@7.0.1', async () => {
    const sdk = join(checkout, 'node_modules/@pulumi/pulumi');
    const { stdout } = await run(
      'node',
      [
        '-e',
        `const t = require(${JSON.stringify(join(sdk, 'tsutils.js'))}).typeScriptRequireStrings();
         console.log(JSON.stringify({ ...t, ts: require.resolve('typescript', { paths: [${JSON.stringify(sdk)}] }) }));`,
      ],
      { cwd: checkout },
    );
    expect(JSON.parse(stdout)).toEqual({
      typescriptRequire: 'typescript',
      tsnodeRequire: 'ts-node',
      ts: join(checkout, 'node_modules/typescript/lib/typescript.js'),
    });
  });

  it('runs under the SDK’s loader, type-checked, and registers the dev stack', async () => {
    const result = await pulumiUp(checkout, stackConfigValues('dev'), [], 300_000);
    expectTheDevStack(result);
    // The service bundle its image copies, built by esbuild during the run.
    expect(existsSync(join(checkout, 'dist/bundle/main.js'))).toBe(true);
  }, 300_000);

  it('the language host finds the docker and random plugins in this install', () => {
    const found = requiredPlugins(programDirectory(checkout)).map((p) => p.name);
    expect(found.sort()).toEqual(['docker', 'random']);
  });
});
