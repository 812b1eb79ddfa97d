import { cpSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './stack';

/**
 * A copy of this project as a user's checkout has it (what git tracks for the program, the
 * images and the package), at another path, with this repository's node_modules linked in.
 * Tests that build or pack work there, never in the working tree.
 */
export function copyCheckout(prefix = 'turnkey-checkout-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  for (const entry of [
    'Pulumi.yaml',
    'Pulumi.dev.yaml',
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'infra',
    'service',
    'coturn',
  ])
    cpSync(join(REPO_ROOT, entry), join(dir, entry), { recursive: true });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}
