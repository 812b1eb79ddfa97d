/** Metered's rules, which the stack reader and the service's env reader both apply. */

/** Metered's region names (global, europe, us_east, …); new ones need no change here. */
export const METERED_REGION = /^[a-z][a-z0-9_]{0,39}$/;

/** Metered: "a string of less than 100 characters". */
export const METERED_LABEL = /^[\x20-\x7e]{1,99}$/;

export type MeteredApiUrlProblem = 'not_a_url' | 'not_https' | 'has_credentials';

/** What is wrong with a refused Metered URL, to follow the setting's name in a message. */
export const METERED_API_URL_PROBLEMS: Record<MeteredApiUrlProblem, string> = {
  not_a_url: 'is not a URL (expected e.g. https://yourapp.metered.live)',
  not_https: 'must use https:// (plain http only for a loopback test server)',
  has_credentials: 'must not carry credentials (the key has a setting of its own)',
};

const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

/**
 * The Metered app's origin, or why `raw` is refused. Both keys travel in this URL's query
 * string, so plain HTTP only where they cannot leave the host (a loopback test server).
 */
export function meteredApiOrigin(
  raw: string,
): { origin: string } | { problem: MeteredApiUrlProblem } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: 'not_a_url' };
  }
  const loopback = LOOPBACK_HOSTS.includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    return { problem: 'not_https' };
  if (url.username || url.password) return { problem: 'has_credentials' };
  return { origin: url.origin };
}
