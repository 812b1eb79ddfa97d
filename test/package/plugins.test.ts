import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyCheckout } from '../helpers/checkout';
import { REPO_ROOT } from '../helpers/stack';
import { programDirectory, requiredPlugins } from './plugin-discovery';

/**
 * The plugins `pulumi up` knows of before the program runs (so it installs them up front, or,
 * offline and under PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION, finds them already installed),
 * found by the nodejs language host's own walk (plugin-discovery.ts, ported from upstream) from
 * the program directory Pulumi.yaml's `main` gives, on a fresh checkout after `npm ci`.
 */

/** The plugin a package ships, as its package.json `pulumi` field says. */
const pluginVersion = (pkg: string) =>
  (
    JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as {
      pulumi: { version: string };
    }
  ).pulumi.version;

let checkout: string;

beforeAll(() => {
  checkout = copyCheckout();
});
afterAll(() => rmSync(checkout, { recursive: true, force: true }));

describe('plugin discovery from Pulumi.yaml’s main (GetRequiredPackages, getPackagesFromDir)', () => {
  it('finds exactly the docker and random resource plugins, at their packages’ versions', () => {
    const errors: string[] = [];
    const found = requiredPlugins(programDirectory(checkout), errors);
    expect(found.map((p) => `${p.kind} ${p.name} ${p.version}`).sort()).toEqual([
      `resource docker v${pluginVersion('@pulumi/docker')}`,
      `resource random v${pluginVersion('@pulumi/random')}`,
    ]);
    expect(errors).toEqual([]);
  });

  it('README names those versions as what a prepared offline runner needs', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const named = [...readme.matchAll(/^pulumi plugin install resource (\S+) (\S+)$/gm)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    expect(named.sort()).toEqual([
      `docker ${pluginVersion('@pulumi/docker')}`,
      `random ${pluginVersion('@pulumi/random')}`,
    ]);
  });
});
