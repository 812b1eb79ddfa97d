/**
 * Cutting secrets out of text that goes into logs, error bodies and /readyz: an upstream's
 * message (which may quote the key it was sent, in any case, or the URL that carried it) and
 * URLs in configuration errors.
 */

const MARK = '[redacted]';
/** Shorter secrets would match ordinary words; none this service holds is that short. */
const MIN_SECRET = 4;
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;
/** A key=value pair of a query string whose name says it is a key, token or secret. */
const SECRET_PARAM = /\b([\w-]*(?:key|token|secret|password|credential)[\w-]*=)[^&\s"'<>]+/gi;

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * `raw` without its query, fragment and user info, which is where URLs carry keys; a string
 * that is no URL loses everything from its first `?` or `#` and anything before an `@`.
 */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    const hidden = url.search || url.hash || url.username || url.password;
    url.search = '';
    url.hash = '';
    url.username = '';
    url.password = '';
    return hidden ? `${url.toString()}` : raw;
  } catch {
    const cut = raw.split(/[?#]/)[0] ?? '';
    const at = cut.lastIndexOf('@');
    return at === -1 ? cut : cut.slice(at + 1);
  }
}

/**
 * `text` with every URL's query and user info removed, every key-like query parameter's value
 * and every form of each secret replaced: as given, in any letter case, percent-encoded (as a
 * path or a query string would carry it).
 */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text.replace(URL_IN_TEXT, (url) => redactUrl(url)).replace(SECRET_PARAM, `$1${MARK}`);
  const forms = new Set<string>();
  for (const s of secrets) {
    if (s.length < MIN_SECRET) continue;
    forms.add(s);
    forms.add(encodeURIComponent(s));
    forms.add(new URLSearchParams({ s }).toString().slice(2));
  }
  if (forms.size > 0) {
    // Longest first, so a secret's encoded form is not left half-replaced by a shorter one.
    const alternatives = [...forms].sort((a, b) => b.length - a.length).map(escapeRegExp);
    out = out.replace(new RegExp(alternatives.join('|'), 'gi'), MARK);
  }
  return out;
}
