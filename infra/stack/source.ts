/**
 * Where stack settings come from: Pulumi's config in the program (infra/program.ts), plain
 * values in tests, benchmarks and other programs.
 */

export interface ConfigSource {
  /** A plain (non-secret) key's value, or undefined. */
  get(key: string): string | undefined;
  /** Whether a key is set at all (used for secret keys, whose values stay Outputs). */
  has(key: string): boolean;
  /**
   * Whether a set key was stored encrypted (`pulumi config set --secret`); sources that cannot
   * tell leave it out, and then nothing is refused.
   */
  isSecret?(key: string): boolean;
}

/**
 * A ConfigSource over plain values, keyed without the `turnkey:` prefix. `secretKeys` count as
 * set although their values live elsewhere (as Pulumi secrets).
 */
export function valuesSource(
  values: Readonly<Record<string, string>>,
  secretKeys: readonly string[] = [],
): ConfigSource {
  return {
    get: (key) => values[key],
    has: (key) => key in values || secretKeys.includes(key),
  };
}
