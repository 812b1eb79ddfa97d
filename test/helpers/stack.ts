import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { type ConfigSource, readStackConfig, type StackConfig, valuesSource } from '../../infra';

export const REPO_ROOT = join(__dirname, '../..');

/** A stack's `config:` from Pulumi.<stack>.yaml, as `pulumi up --stack <stack>` passes it. */
export function stackConfigValues(stack: string): Record<string, string> {
  const doc = parse(readFileSync(join(REPO_ROOT, `Pulumi.${stack}.yaml`), 'utf8')) as {
    config?: Record<string, unknown>;
  };
  return Object.fromEntries(Object.entries(doc.config ?? {}).map(([k, v]) => [k, String(v)]));
}

/** The validated turnkey:* config of a stack, with overrides (e.g. free ports for a test). */
export function stackConfig(
  stack: string,
  overrides: Record<string, string> = {},
  secretKeys: string[] = [],
): StackConfig {
  return readStackConfig(
    stackValuesSource({ ...stackConfigValues(stack), ...overrides }, secretKeys),
  );
}

/** A ConfigSource over a stack's values as Pulumi.<stack>.yaml keys them (`turnkey:…`). */
export function stackValuesSource(
  values: Record<string, string>,
  secretKeys: string[] = [],
): ConfigSource {
  const turnkey = Object.fromEntries(
    Object.entries(values).flatMap(([k, v]) => (k.startsWith('turnkey:') ? [[k.slice(8), v]] : [])),
  );
  return valuesSource(turnkey, secretKeys);
}
