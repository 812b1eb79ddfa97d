/**
 * What went wrong with an order, in the words an operator acts on. acme-client throws plain
 * Errors carrying only the CA's `detail`; the problem's type (RFC 8555 §6.7), which tells a
 * name pointing elsewhere from a firewall from a rate limit, and a rate limit's Retry-After,
 * are read from the CA's answers as they pass (recordProblems), then turned into one line
 * that names the cause and the fix, quoting the CA's own message.
 */

/** What the operator has to fix; `rate_limited` and `ca_unreachable` may also pass by themselves. */
export type AcmeFailureKind =
  | 'dns'
  | 'port_blocked'
  | 'port_closed'
  | 'wrong_answer'
  | 'rate_limited'
  | 'refused'
  | 'ca_unreachable'
  | 'other';

export class AcmeFailure extends Error {
  override readonly name = 'AcmeFailure';
  constructor(
    readonly kind: AcmeFailureKind,
    message: string,
    /** The CA's Retry-After, when it gave one: no new attempt before then. */
    readonly retryAfter?: Date,
  ) {
    super(message);
  }
}

/** One problem document the CA sent (an error answer, or a challenge's `error`). */
export interface CaProblem {
  type: string;
  detail: string;
  retryAfter?: Date;
}

const PREFIX = 'urn:ietf:params:acme:error:';

/** The problem's short type, e.g. `rateLimited`, without the URN prefix. */
export const shortType = (type: string) =>
  type.startsWith(PREFIX) ? type.slice(PREFIX.length) : type;

/** The header's date or delay in seconds (RFC 9110 §10.2.3), as a time. */
export function parseRetryAfter(value: unknown, now = new Date()): Date | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return new Date(now.getTime() + Number(value) * 1000);
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/** A problem document in a response body, if it holds one: the body itself or its `error`. */
export function problemIn(body: unknown, retryAfter?: unknown): CaProblem | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as { type?: unknown; detail?: unknown; error?: unknown };
  const doc =
    typeof b.type === 'string' && b.type.startsWith(PREFIX)
      ? b
      : (b.error as { type?: unknown; detail?: unknown } | undefined);
  if (typeof doc?.type !== 'string') return undefined;
  const at = parseRetryAfter(retryAfter);
  return {
    type: doc.type,
    detail: typeof doc.detail === 'string' ? doc.detail : '',
    ...(at ? { retryAfter: at } : {}),
  };
}

const HTTP01_FIX =
  'open TCP port 80 of this host to the internet (firewall, security group), or set turnkey:acmeHttpPort (ACME_HTTP_PORT) to the port a proxy on port 80 forwards /.well-known/acme-challenge/ to';

/**
 * The line for a failed validation of `domain` on port `port`: the CA's type and message
 * decide which of the usual causes it is.
 */
export function validationFailure(domain: string, problem: CaProblem): AcmeFailure {
  const type = shortType(problem.type);
  const said = `(the CA says: ${problem.detail || type})`;
  const detail = problem.detail.toLowerCase();
  // Pebble reports a name without records as a `connection` problem ("could not resolve").
  if (type === 'dns' || /could not resolve|no such host|nxdomain|no valid a records/.test(detail))
    return new AcmeFailure(
      'dns',
      `ACME: ${domain} does not resolve for the CA ${said}: create an A (and AAAA) record for ${domain} pointing at this host's public address`,
    );
  if (type === 'connection' && /timeout|timed out|deadline/.test(detail))
    return new AcmeFailure(
      'port_blocked',
      `ACME: the CA's connection to port 80 of ${domain} timed out, as when a firewall drops it ${said}: ${HTTP01_FIX}`,
    );
  if (type === 'connection')
    return new AcmeFailure(
      'port_closed',
      `ACME: nothing answered on port 80 where ${domain} resolves ${said}: if that address is not this host's, point ${domain} at this host; if it is, ${HTTP01_FIX}`,
    );
  if (type === 'unauthorized' || type === 'incorrectResponse')
    return new AcmeFailure(
      'wrong_answer',
      `ACME: the CA reached port 80 of ${domain} and another server answered ${said}: ${domain} resolves to another host (point it at this one), or a proxy on port 80 does not forward /.well-known/acme-challenge/ to this service`,
    );
  return caRefusal(problem, `validating ${domain}`);
}

/** The CA said no to a request (account, order, finalization). */
export function caRefusal(problem: CaProblem, doing: string): AcmeFailure {
  const type = shortType(problem.type);
  const said = `the CA says: ${problem.detail || type}`;
  if (type === 'rateLimited') {
    const until = problem.retryAfter
      ? `; next attempt after ${problem.retryAfter.toISOString()}`
      : '';
    return new AcmeFailure(
      'rate_limited',
      `ACME: the CA refused ${doing}: rate limit (${said})${until}. Each redeploy reuses the certificate in ACME_STATE_DIR; for trials use the CA's staging directory (turnkey:acmeDirectoryUrl)`,
      problem.retryAfter,
    );
  }
  return new AcmeFailure(
    'refused',
    `ACME: the CA refused ${doing} (${type}; ${said}): change what it names (turnkey:acmeEmail, turnkey:publicHost, the CA's account policy) or use another CA (turnkey:acmeDirectoryUrl)`,
  );
}

/** No answer from the CA at all: the network, the URL or its certificate. */
export function caUnreachable(directoryUrl: string, err: Error): AcmeFailure {
  const code = (err as NodeJS.ErrnoException).code;
  const tls = code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|SSL/i.test(code);
  const fix = tls
    ? "the directory's HTTPS certificate is not trusted: for a private CA set turnkey:acmeCaCert (ACME_CA_FILE) to its root"
    : 'check turnkey:acmeDirectoryUrl (ACME_DIRECTORY_URL) and that this host may open HTTPS connections to it';
  return new AcmeFailure(
    'ca_unreachable',
    `ACME: the CA at ${directoryUrl} cannot be reached (${code ?? err.message}): ${fix}`,
  );
}
