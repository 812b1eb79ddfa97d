/** A problem with the `turnkey:*` stack config: the message names the key and the fix. */
export class StackConfigError extends Error {
  override readonly name = 'StackConfigError';
}

/** The `pulumi config set` for `key`; a key inside structured config (`relays[1].x`) takes `--path`. */
export const setCommand = (key: string, example: string, secret = false): string =>
  /[[.]/.test(key)
    ? `pulumi config set ${secret ? '--secret ' : ''}--path 'turnkey:${key}' ${example}`
    : `pulumi config set ${secret ? '--secret ' : ''}turnkey:${key} ${example}`;

/** A StackConfigError naming `key` and the `pulumi config set` that fixes it. */
export function fail(key: string, problem: string, example: string, secret = false): never {
  throw new StackConfigError(
    `turnkey:${key} ${problem}: run \`${setCommand(key, example, secret)}\``,
  );
}
