import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './stack';

/**
 * A copy of this project as a user's checkout has it (what git tracks for the program, the
 * images and the package), at another path, with its own node_modules: hard links to this
 * repository's files (quick, no space), a real directory as `npm ci` makes it (a symlink
 * would put the packages outside the checkout, e.g. into the bundle's module paths).
 * Tests that build or pack work there, never in the working tree; none writes node_modules.
 */
export function copyCheckout(prefix = 'turnkey-checkout-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  for (const entry of [
    'Pulumi.yaml',
    'Pulumi.dev.yaml',
    'index.ts',
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'cli',
    'contract',
    'infra',
    'service',
    'coturn',
  ])
    cpSync(join(REPO_ROOT, entry), join(dir, entry), { recursive: true });
  execFileSync('cp', ['-al', join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules')]);
  return dir;
}
