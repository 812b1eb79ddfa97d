import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TurnkeyRelay } from '../../infra';
import { type ContextEntry, contextEntries } from '../helpers/build-context';
import { REPO_ROOT } from '../helpers/stack';
import { installMocks, ofType, resolved, TYPES } from './mocks';

/**
 * Issue #25: the Docker provider's context digest takes in each file's mode, and git and esbuild
 * create files as the local umask says, so a laptop (umask 002) and a CI runner (022) would
 * each see a changed relay image and replace the relay, dropping its calls. Here: one snapshot
 * of the image inputs, checked out as git does under three umasks (the third a hardened
 * machine's), the service bundled by esbuild there, each deployed by the component.
 */

beforeAll(() => installMocks());

/** What the images are built from: the Dockerfiles' contexts and what esbuild bundles. */
const INPUTS = ['package.json', 'tsconfig.json', 'contract', 'service', 'coturn'];

interface Tracked {
  path: string;
  bytes: Buffer;
  executable: boolean;
}

function snapshot(path: string): Tracked[] {
  const abs = join(REPO_ROOT, path);
  const st = statSync(abs);
  if (st.isDirectory()) return readdirSync(abs).flatMap((e) => snapshot(join(path, e)));
  return [{ path, bytes: readFileSync(abs), executable: (st.mode & 0o100) !== 0 }];
}

/**
 * A checkout as git makes one (entry.c: 0777 for an executable blob, else 0666, less the
 * umask), node_modules linked (esbuild resolves packages by real path, the same for all).
 */
function checkOut(files: Tracked[], dir: string) {
  for (const f of files) {
    mkdirSync(dirname(join(dir, f.path)), { recursive: true });
    writeFileSync(join(dir, f.path), f.bytes, { mode: f.executable ? 0o777 : 0o666 });
  }
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
}

const UMASKS = [0o002, 0o022, 0o077];

interface Deployed {
  contexts: Record<string, ContextEntry[]>;
  dirModes: Record<string, string>;
}

const dirMode = (path: string) => (statSync(path).mode & 0o7777).toString(8);

const deployed: Deployed[] = [];
const checkouts: string[] = [];

beforeAll(async () => {
  // One read for all: a file edited meanwhile cannot make two checkouts differ.
  const files = INPUTS.flatMap(snapshot);
  for (const umask of UMASKS) {
    const name = `umask${umask.toString(8).padStart(3, '0')}`;
    const checkout = mkdtempSync(join(tmpdir(), `turnkey-${name}-`));
    checkouts.push(checkout);
    const previous = process.umask(umask);
    let relay: TurnkeyRelay;
    try {
      checkOut(files, checkout);
      // Bundles the service (esbuild, under this umask) and prepares both contexts.
      relay = new TurnkeyRelay(name, {
        publicHost: 'turn.example.com',
        stack: 'dev',
        projectRoot: checkout,
      });
    } finally {
      process.umask(previous);
    }
    // buildSync keeps one esbuild process, made under the umask of its first call: each machine
    // has its own.
    await esbuild.stop();
    await Promise.all(Object.values(relay.images).map((i) => resolved(i.id)));
    const contexts: Record<string, ContextEntry[]> = {};
    for (const image of ofType(TYPES.image, `${name}-`)) {
      const build = image.inputs.build as { context: string; dockerfile: string };
      contexts[image.name.slice(name.length + 1)] = contextEntries(build.context, build.dockerfile);
    }
    const dirModes = Object.fromEntries(
      ['dist', 'dist/bundle'].map((d) => [d, dirMode(join(checkout, d))]),
    );
    deployed.push({ contexts, dirModes });
  }
}, 120_000);

afterAll(() => {
  for (const dir of checkouts) rmSync(dir, { recursive: true, force: true });
});

describe('the build contexts on machines with different umasks', () => {
  it('are the same on every machine: paths, modes and bytes (so the same context digest, no rebuild)', () => {
    expect(deployed).toHaveLength(UMASKS.length);
    const [first, ...others] = deployed as [Deployed, ...Deployed[]];
    expect(Object.keys(first.contexts).sort()).toEqual(['coturn', 'service']);
    for (const other of others) expect(other.contexts).toEqual(first.contexts);
  });

  it('have fixed modes: 0644, and 0755 for the entrypoint the relay runs and for directories', () => {
    for (const d of deployed) {
      const modes = Object.fromEntries(
        Object.entries(d.contexts).map(([role, entries]) => [
          role,
          Object.fromEntries(entries.map((e) => [e.path, e.mode])),
        ]),
      );
      expect(modes).toEqual({
        coturn: { 'Dockerfile.coturn': '644', 'entrypoint.sh': '755', 'turnserver.conf': '644' },
        service: { 'dist/bundle/main.js': '644', 'service/Dockerfile': '644' },
      });
      expect(d.dirModes).toEqual({ dist: '755', 'dist/bundle': '755' });
    }
  });
});
