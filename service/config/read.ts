import { readFileSync } from 'node:fs';
import {
  bounds,
  defaultOf,
  parseIceUri,
  SETTINGS,
  type ServiceSecretVar,
  type ServiceVar,
  type SettingName,
  splitList,
} from '../../contract';
import { ConfigError } from './errors';

/**
 * Reading one variable, the way the settings table (contract/settings.ts) describes it. Every
 * read takes a ServiceVar or a SettingName, so a name the table does not have fails `tsc`.
 */

/** The process environment (or any object like it). */
export type Env = Readonly<Record<string, string | undefined>>;

/** The service's variable for a setting (its first; the table lists the service's). */
export function serviceVar(name: SettingName): ServiceVar {
  const vars = (SETTINGS[name] as { service?: readonly string[] }).service;
  if (!vars?.[0]) throw new Error(`setting ${name} has no service variable`);
  return vars[0] as ServiceVar;
}

export function present(env: Env, name: ServiceVar): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/**
 * A setting's variable, or one of its deprecated names (noted in `deprecations` for the log);
 * both set is refused, since they could disagree.
 */
export function presentSetting(
  env: Env,
  name: SettingName,
  deprecations: string[],
): string | undefined {
  const current = serviceVar(name);
  const value = present(env, current);
  const old = (SETTINGS[name] as { deprecated?: Record<string, string> }).deprecated ?? {};
  for (const oldName of Object.keys(old)) {
    const oldValue = present(env, oldName as ServiceVar);
    if (oldValue === undefined) continue;
    if (value !== undefined)
      throw new ConfigError(`${current} and ${oldName} are both set: keep only ${current}`);
    deprecations.push(`${oldName} is deprecated: rename it to ${current} (same value)`);
    return oldValue;
  }
  return value;
}

/**
 * A secret from NAME or from the file named by NAME_FILE (as Docker and the Pulumi
 * program provide it), so the value need not sit in the container's environment.
 */
export function readSecret(env: Env, name: ServiceSecretVar): string | undefined {
  const direct = present(env, name);
  const file = present(env, `${name}_FILE`);
  if (direct !== undefined && file !== undefined) {
    throw new ConfigError(`${name} and ${name}_FILE are both set: keep only one`);
  }
  return file === undefined ? direct : readVarFile(`${name}_FILE`, file);
}

/**
 * The trimmed, non-empty content of the file the variable `name` names. Messages never show
 * the path: a secret set where its file's path belongs would be printed.
 */
export function readVarFile(name: ServiceVar, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const hint = file.includes('/')
      ? 'check the path and that the service may read it'
      : `it holds no path: set ${name} to the file's path (the value itself belongs in ${name.replace(/_FILE$/, '')}, where the service reads one)`;
    throw new ConfigError(
      `${name} names a file that cannot be read (${code}): ${hint} (its value is not shown: it may be a secret)`,
    );
  }
  const value = text.trim();
  if (value === '') throw new ConfigError(`${name} names an empty file: give it the value`);
  return value;
}

/**
 * A whole-number setting within the table's bounds; `min` overrides the lower bound (PORT and
 * METRICS_PORT take 0, a free port, for tests and benchmarks).
 */
export function wholeNumber(env: Env, setting: SettingName, min = bounds(setting).min): number {
  const name = serviceVar(setting);
  const { max } = bounds(setting);
  const raw = present(env, name);
  if (raw === undefined) return defaultOf(setting, 'env') as number;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return Number(raw);
}

export function flag(env: Env, setting: SettingName): boolean {
  const name = serviceVar(setting);
  const raw = present(env, name)?.toLowerCase() ?? String(defaultOf(setting, 'env') ?? false);
  if (raw !== 'true' && raw !== 'false') {
    throw new ConfigError(`${name} must be true or false, got "${raw}"`);
  }
  return raw === 'true';
}

/** One of the values an enum setting lists. */
export function oneOf(env: Env, setting: SettingName): string {
  const name = serviceVar(setting);
  const kind = SETTINGS[setting].kind as { type: string; values?: readonly string[] };
  const values = kind.values ?? [];
  const fallback = defaultOf(setting, 'env') as string;
  const raw = present(env, name)?.toLowerCase() ?? fallback;
  if (!values.includes(raw)) {
    throw new ConfigError(
      `${name} must be one of ${values.join(', ')} (unset: ${fallback}), got "${raw}"`,
    );
  }
  return raw;
}

/** A checked STUN/TURN URI (`label` names where it came from) of one of `schemes`. */
export function iceUri(label: string, value: unknown, schemes: string[]): string {
  if (typeof value !== 'string') throw new ConfigError(`${label} must be a string URI`);
  let scheme: string;
  try {
    scheme = parseIceUri(value).scheme;
  } catch (err) {
    throw new ConfigError(`${label}: ${(err as Error).message}`);
  }
  if (!schemes.includes(scheme)) {
    throw new ConfigError(
      `${label}: "${value}" must use ${schemes.map((s) => `${s}:`).join(' or ')}`,
    );
  }
  return value;
}

/** A comma-separated list of URIs, each of one of `schemes`. */
export function iceUriList(label: string, raw: string | undefined, schemes: string[]): string[] {
  if (raw === undefined) return [];
  return splitList(raw).map((uri) => iceUri(label, uri, schemes));
}
