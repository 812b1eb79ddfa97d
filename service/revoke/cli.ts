import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { isValidUserId } from '../../contract';
import { apiTokenArg, readFileArg } from '../api-token-arg';
import { MAX_REVOCATION_SECONDS } from '../revocations/revocations';

/**
 * `turnkey revoke`: a user's calls ended and new credentials refused on the whole deployment,
 * through one host's API (POST /v1/revocations, which passes it on to the fleet). Exit 0 when
 * every relay confirmed; 1 when one did not (named, with why) or the API refused; 2 on bad
 * usage.
 */

export const REVOKE_USAGE = `usage: turnkey revoke --url <iceServersUrl> --user <id> [--for <duration>] [--token <token> | --token-file <file>] [--ca <file>]
       turnkey revoke --url <iceServersUrl> --user <id> --lift
       turnkey revoke --url <iceServersUrl> --list

  --url         the deployment's iceServersUrl (pulumi stack output iceServersUrl)
  --user        the user id your app asks ice-servers for
  --for         how long: 90s, 15m, 2h, 7d (default 24h, at most 30d)
  --lift        end a revocation early
  --list        the revocations in force
  --token       an API token; TURNKEY_API_TOKEN or --token-file keep it out of the process list
  --ca          PEM CA certificates to trust for the API's https (a private CA)`;

export interface RevokeIo {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
}

class RevokeUsageError extends Error {}
const usage = (message: string) => new RevokeUsageError(message);

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `--for`: seconds from 90s, 15m, 2h, 7d (a bare number is seconds). */
export function parseDuration(raw: string): number {
  const m = /^(\d{1,7})([smhd]?)$/.exec(raw.trim());
  const seconds = m ? Number(m[1]) * (UNITS[m[2] || 's'] as number) : Number.NaN;
  if (!(seconds >= 1 && seconds <= MAX_REVOCATION_SECONDS))
    throw usage(`--for must be from 1s to 30d, like 90s, 15m, 2h or 7d, got "${raw}"`);
  return seconds;
}

interface RelayOutcome {
  relay: string;
  sessionsEnded?: number;
  error?: string;
}

export async function revokeMain(argv: string[], io: RevokeIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(REVOKE_USAGE);
    return 0;
  }
  let call: { method: 'POST' | 'GET' | 'DELETE'; url: URL; body?: object };
  let token: string;
  let ca: string | undefined;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string' },
        user: { type: 'string' },
        for: { type: 'string' },
        lift: { type: 'boolean' },
        list: { type: 'boolean' },
        token: { type: 'string' },
        'token-file': { type: 'string' },
        ca: { type: 'string' },
      },
    });
    if (positionals[0] !== 'revoke' || positionals.length > 1)
      throw usage(`unknown argument "${positionals.slice(1).join(' ')}"`);
    if (!values.url) throw usage("--url is required: the deployment's iceServersUrl");
    let base: URL;
    try {
      base = new URL('/v1/revocations', values.url);
    } catch {
      throw usage(`--url must be the deployment's iceServersUrl, got "${values.url}"`);
    }
    token = apiTokenArg(values, io.env, usage);
    if (values.ca) ca = readFileArg('--ca', values.ca, usage);
    if (values.list) {
      if (values.user || values.lift || values.for)
        throw usage('--list takes no --user, --lift or --for');
      call = { method: 'GET', url: base };
    } else {
      if (!values.user || !isValidUserId(values.user))
        throw usage(
          '--user must be 1-128 of A-Z a-z 0-9 . _ ~ @ + -, the id your app asks ice-servers for',
        );
      if (values.lift && values.for) throw usage('give --lift or --for, not both');
      call = values.lift
        ? {
            method: 'DELETE',
            url: new URL(`/v1/revocations/${encodeURIComponent(values.user)}`, base),
          }
        : {
            method: 'POST',
            url: base,
            body: { user: values.user, seconds: parseDuration(values.for ?? '24h') },
          };
    }
  } catch (err) {
    if (
      err instanceof RevokeUsageError ||
      (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      io.err(`turnkey revoke: ${(err as Error).message}\n\n${REVOKE_USAGE}`);
      return 2;
    }
    throw err;
  }

  const agent = new Agent({ connect: { ...(ca ? { ca } : {}), timeout: 5000 } });
  try {
    const res = await request(call.url, {
      method: call.method,
      dispatcher: agent,
      headers: {
        authorization: `Bearer ${token}`,
        ...(call.body ? { 'content-type': 'application/json' } : {}),
      },
      ...(call.body ? { body: JSON.stringify(call.body) } : {}),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    const answer = (await res.body.json().catch(() => ({}))) as {
      message?: string;
      user?: string;
      until?: string;
      lifted?: boolean;
      relays?: RelayOutcome[];
      revocations?: { user: string; until: string }[];
    };
    if (res.statusCode !== 200) {
      io.err(
        `turnkey revoke: the API answered ${res.statusCode}: ${answer.message ?? 'no message'}`,
      );
      return 1;
    }
    if (call.method === 'GET') {
      const list = answer.revocations ?? [];
      io.out(
        list.length === 0
          ? 'no revocations in force'
          : list.map((r) => `${r.user}  until ${r.until}`).join('\n'),
      );
      return 0;
    }
    const relays = answer.relays ?? [];
    io.out(
      call.method === 'POST'
        ? `revoked ${answer.user} until ${answer.until}`
        : `${answer.user}: ${answer.lifted ? 'revocation lifted' : 'was not revoked on this host'}`,
    );
    for (const r of relays)
      io.out(
        r.error
          ? `  ${r.relay}: ${r.error}`
          : `  ${r.relay}: ${call.method === 'POST' ? `${r.sessionsEnded ?? 0} sessions ended` : 'confirmed'}`,
      );
    const failed = relays.filter((r) => r.error);
    if (failed.length > 0) {
      io.err(
        `turnkey revoke: ${failed.length} relay(s) did not confirm: run it again once they are reachable (a host keeps what it confirmed)`,
      );
      return 1;
    }
    return 0;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    io.err(`turnkey revoke: cannot reach ${call.url.origin} (${e.code ?? e.message})`);
    return 1;
  } finally {
    await agent.close();
  }
}
