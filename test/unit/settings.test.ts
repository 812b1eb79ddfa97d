import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { defaultOf, SETTINGS, type Setting, STACK_KEYS } from '../../contract';
import {
  README_FILE,
  REFERENCE_FILE,
  readmeWithTable,
  referenceDoc,
} from '../../scripts/reference';
import { REPO_ROOT } from '../helpers/stack';

/**
 * The settings table (contract/settings.ts) against everything that spells its names without
 * `tsc` seeing it: the docs, the dev stack's config file, the relay's shell entrypoint and the
 * shipped turnserver.conf. (The TypeScript readers and the planner are held to it by `tsc`.)
 */

const entries = Object.entries(SETTINGS) as [string, Setting][];
const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

describe('the reference docs are made from the settings table', () => {
  it('docs/reference.md is what `npm run docs` writes (run it after changing a setting)', () => {
    expect(readFileSync(REFERENCE_FILE, 'utf8')).toBe(referenceDoc());
  });

  it("README.md's settings table is what `npm run docs` writes", () => {
    const readme = readFileSync(README_FILE, 'utf8');
    expect(readme).toBe(readmeWithTable(readme));
  });
});

describe('stack config files use only stack keys of the table', () => {
  it.each(['Pulumi.dev.yaml'])('%s', (file) => {
    const config = (parse(read(file)) as { config: Record<string, unknown> }).config;
    const keys = Object.keys(config)
      .filter((k) => k.startsWith('turnkey:'))
      .map((k) => k.slice('turnkey:'.length));
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(STACK_KEYS, `turnkey:${key}`).toContain(key);
  });
});

describe('coturn/entrypoint.sh reads exactly the relay variables of the table', () => {
  const script = read('coturn/entrypoint.sh');
  // Variables the script reads: ${NAME…}, $NAME, and read_secret NAME (NAME and NAME_FILE).
  const code = script
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('#'))
    .join('\n');
  const readVars = new Set<string>();
  for (const m of code.matchAll(/\$\{?([A-Z][A-Z0-9_]*)/g)) readVars.add(m[1] as string);
  for (const m of code.matchAll(/^\s*read_secret ([A-Z][A-Z0-9_]*)/gm)) {
    readVars.add(m[1] as string);
    readVars.add(`${m[1]}_FILE`);
  }
  // The shell's own, and what the entrypoint tells the watcher it starts (itself again): not
  // the container's contract.
  for (const own of [
    'TMPDIR',
    'TURNKEY_WATCH_PID',
    'TURNKEY_WATCH_SECRETS',
    'TURNKEY_WATCH_INTERVAL',
  ])
    readVars.delete(own);

  const tableVars = new Set<string>();
  for (const [, s] of entries)
    for (const v of s.relay ?? []) {
      tableVars.add(v);
      if (s.kind.type === 'secret' && !v.endsWith('_FILE')) tableVars.add(`${v}_FILE`);
    }

  it('every relay variable in the table is read by the entrypoint', () => {
    expect([...tableVars].filter((v) => !readVars.has(v))).toEqual([]);
  });

  it('every variable the entrypoint reads is in the table', () => {
    expect([...readVars].filter((v) => !tableVars.has(v))).toEqual([]);
  });

  it('its defaults are the table’s', () => {
    for (const [name, s] of entries) {
      const [v] = s.relay ?? [];
      if (!v || s.default === undefined || s.kind.type === 'file') continue;
      const m = new RegExp(`\\$\\{${v}:-([^}]*)\\}`).exec(code);
      if (m?.[1])
        expect(m[1], `${v} (${name})`).toBe(String(defaultOf(name as keyof typeof SETTINGS)));
    }
  });
});

describe("the shipped turnserver.conf's limits are the table's defaults", () => {
  const conf = read('coturn/turnserver.conf');
  it.each([
    ['userQuota', 'user-quota'],
    ['totalQuota', 'total-quota'],
    ['maxBps', 'max-bps'],
  ] as const)('%s is %s in the conf', (name, option) => {
    const m = new RegExp(`^${option}=(\\d+)$`, 'm').exec(conf);
    expect(Number(m?.[1])).toBe(defaultOf(name));
  });
});
