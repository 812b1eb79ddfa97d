import { readFileSync } from 'node:fs';

/**
 * The API token a command-line client (`turnkey check`, `turnkey revoke`) sends: --token,
 * --token-file, or TURNKEY_API_TOKEN (the last two keep it out of the process list). Throws a
 * usage problem as `fail` makes it.
 */
export function apiTokenArg(
  values: { token?: string | undefined; 'token-file'?: string | undefined },
  env: Record<string, string | undefined>,
  fail: (message: string) => Error,
): string {
  const sources = [values.token, values['token-file'], env.TURNKEY_API_TOKEN].filter(Boolean);
  if (sources.length === 0)
    throw fail('an API token is required: --token, --token-file or TURNKEY_API_TOKEN');
  if (values.token && values['token-file']) throw fail('give --token or --token-file, not both');
  return (
    values.token ??
    (values['token-file']
      ? readFileArg('--token-file', values['token-file'], fail)
      : env.TURNKEY_API_TOKEN) ??
    ''
  ).trim();
}

export function readFileArg(flag: string, path: string, fail: (message: string) => Error): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw fail(
      `${flag} names a file that cannot be read (${(err as NodeJS.ErrnoException).code}): ${path}`,
    );
  }
}
