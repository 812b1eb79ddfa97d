import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/stack';

/**
 * The layout's promises, read from the code's own imports: contract/ imports neither side,
 * infra/ never reaches into service/, and no module imports itself through others.
 */

function sources(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir)).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(join(REPO_ROOT, path)).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

const FILES = ['contract', 'service', 'infra', 'scripts'].flatMap(sources);

/** `from '…'` and `require('…')` of relative paths, resolved to files of the tree. */
function imports(file: string): string[] {
  const text = readFileSync(join(REPO_ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:from|require\()\s*'(\.[^']*)'/g)].map((m) => m[1] as string);
  return specs.map((spec) => {
    const base = relative(REPO_ROOT, resolve(REPO_ROOT, dirname(file), spec));
    const hit = [`${base}.ts`, join(base, 'index.ts')].find((f) => FILES.includes(f));
    if (!hit) throw new Error(`${file} imports ${spec}, which is no file of the tree`);
    return hit;
  });
}

const GRAPH = new Map(FILES.map((f) => [f, imports(f)]));
const top = (f: string) => f.split('/')[0];

describe('the layout', () => {
  it('contract/ imports neither infra/ nor service/', () => {
    const bad = [...GRAPH].flatMap(([f, to]) =>
      top(f) === 'contract'
        ? to.filter((t) => top(t) !== 'contract').map((t) => `${f} → ${t}`)
        : [],
    );
    expect(bad).toEqual([]);
  });

  it('infra/ never imports service/ (the service image is built from its own sources)', () => {
    const bad = [...GRAPH].flatMap(([f, to]) =>
      top(f) === 'infra' ? to.filter((t) => top(t) === 'service').map((t) => `${f} → ${t}`) : [],
    );
    expect(bad).toEqual([]);
  });

  it('the provider library stands alone: providers, the TURN client and the contract, no env reader or HTTP', () => {
    const allowed = ['service/providers/', 'service/turn/', 'contract/'];
    const bad = [...GRAPH].flatMap(([f, to]) =>
      f.startsWith('service/providers/')
        ? to.filter((t) => !allowed.some((a) => t.startsWith(a))).map((t) => `${f} → ${t}`)
        : [],
    );
    expect(bad).toEqual([]);
  });

  it('has no import cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].join(' → '));
        return;
      }
      state.set(f, 'open');
      for (const t of GRAPH.get(f) ?? []) visit(t, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of FILES) visit(f, []);
    expect(cycles).toEqual([]);
  });
});
