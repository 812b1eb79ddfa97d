import { createHash, timingSafeEqual } from 'node:crypto';

export type AuthResult = { ok: true; tokenIndex: number } | { ok: false; message: string };

/** Query parameters clients use for tokens by habit; they end up in proxy and access logs. */
const QUERY_TOKEN_NAMES = ['token', 'access_token', 'api_token', 'apiToken', 'apikey', 'api_key'];

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Bearer-token check against API_TOKENS. Comparing SHA-256 digests with timingSafeEqual,
 * and always against every token, keeps the time independent of how much of a guess was right.
 * Several tokens at once allow rotation without downtime.
 */
export function createTokenChecker(
  tokens: string[],
  equal: (a: Buffer, b: Buffer) => boolean = timingSafeEqual,
) {
  const digests = tokens.map(digest);
  return (authorization: string | undefined, query: Record<string, unknown>): AuthResult => {
    if (QUERY_TOKEN_NAMES.some((name) => name in query)) {
      return {
        ok: false,
        message:
          'API tokens are not accepted in the query string: send Authorization: Bearer <token>',
      };
    }
    if (authorization === undefined || authorization === '') {
      return {
        ok: false,
        message: 'missing Authorization header: send Authorization: Bearer <token>',
      };
    }
    const m = /^Bearer +([\x21-\x7e]+) *$/i.exec(authorization);
    if (!m)
      return { ok: false, message: 'malformed Authorization header: expected Bearer <token>' };
    const presented = digest(m[1] as string);
    let match = -1;
    for (const [i, d] of digests.entries()) {
      if (equal(d, presented) && match === -1) match = i;
    }
    return match === -1
      ? { ok: false, message: 'invalid API token' }
      : { ok: true, tokenIndex: match };
  };
}
