import { timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTokenChecker } from '../../service/http/auth';

const tokens = ['a'.repeat(40), 'b'.repeat(40), 'c'.repeat(40)];

/** Records every comparison the checker makes. */
function counting() {
  const calls: [number, number][] = [];
  const equal = (a: Buffer, b: Buffer) => {
    calls.push([a.length, b.length]);
    return timingSafeEqual(a, b);
  };
  return { calls, check: createTokenChecker(tokens, equal) };
}

describe('token comparison does not leak timing', () => {
  it.each([
    ['the first token', tokens[0]],
    ['the last token', tokens[2]],
    ['a wrong token sharing a long prefix', `${'a'.repeat(39)}x`],
    ['a much shorter token', 'a'],
    ['a much longer token', 'a'.repeat(4000)],
  ])(
    'compares %s against every configured token, always as 32-byte digests',
    (_name, presented) => {
      const { calls, check } = counting();
      check(`Bearer ${presented}`, {});
      expect(calls).toEqual([
        [32, 32],
        [32, 32],
        [32, 32],
      ]);
    },
  );

  it('accepts each configured token (rotation) and names which one matched', () => {
    const { check } = counting();
    tokens.forEach((t, i) => {
      expect(check(`Bearer ${t}`, {})).toEqual({ ok: true, tokenIndex: i });
    });
  });

  it.each([
    [undefined, {}, /missing Authorization/],
    ['', {}, /missing Authorization/],
    ['Basic abc', {}, /malformed/],
    ['Bearer', {}, /malformed/],
    ['Bearer two words', {}, /malformed/],
    [`Bearer ${tokens[0]}x`, {}, /invalid API token/],
    [`Bearer ${tokens[0]}`, { access_token: tokens[0] }, /not accepted in the query string/],
  ])('refuses %j with %j', (header, query, message) => {
    const result = counting().check(header, query);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toMatch(message);
  });

  it('accepts the scheme in any case, as RFC 7235 says', () => {
    expect(counting().check(`bearer ${tokens[1]}`, {})).toEqual({ ok: true, tokenIndex: 1 });
  });
});
