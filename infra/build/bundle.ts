import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type * as Esbuild from 'esbuild';

/**
 * The credential service as one file, what its image runs (service/Dockerfile copies it): built
 * here, before the image build, so the Docker host needs no npm registry and the image carries
 * no node_modules. Same options as `npm run bundle`.
 */
export const SERVICE_BUNDLE = 'dist/bundle/main.js';

const built = new Set<string>();

/**
 * Bundles service/ under `root` when its sources are there (a checkout); an installed package
 * ships the bundle instead (npm pack runs `prepack`). esbuild's output depends only on the
 * sources and names them relative to `root`, so the image's context digest, and so the
 * image, is the same on every checkout path. Once per root and process.
 */
export function ensureServiceBundle(root: string): void {
  const out = join(root, SERVICE_BUNDLE);
  if (built.has(root)) return;
  if (existsSync(join(root, 'service/main.ts'))) {
    // A runtime dependency, as `pulumi up` on a checkout bundles (README "Dependencies"), but
    // loaded only here: an installed package ships the bundle and never needs it.
    const esbuild = require('esbuild') as typeof Esbuild;
    esbuild.buildSync({
      entryPoints: ['service/main.ts'],
      absWorkingDir: root,
      bundle: true,
      platform: 'node',
      target: 'node20',
      outfile: out,
      logLevel: 'warning',
    });
  } else if (!existsSync(out)) {
    throw new Error(
      `the credential service bundle ${out} is missing and there are no sources to build it from: reinstall the package, or run \`npm run bundle\` in a checkout`,
    );
  }
  built.add(root);
}
