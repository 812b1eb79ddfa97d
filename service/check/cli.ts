import { parseArgs } from 'node:util';
import { isValidUserId } from '../../contract';
import { apiTokenArg, readFileArg } from '../api-token-arg';
import { exitCode, formatReport } from './report';
import { CheckUsageError, runCheck } from './run';

/**
 * `turnkey check` (cli/main.ts dispatches to it) verifies a live deployment from the outside:
 * exit 0 only when every URI it hands out relays (TURN) or answers (STUN) and no certificate
 * it meets is out of its validity period; 1 when something does not work (each with a
 * diagnosis); 2 on bad usage. A certificate near its end is only a warning: it still works.
 */

const USAGE = `usage: turnkey check --url <iceServersUrl> [--token <token> | --token-file <file>] [--user <id>] [--json] [--ca <file>] [--timeout <ms>]

  --url         the deployment's iceServersUrl (pulumi stack output iceServersUrl)
  --token       an API token (pulumi stack output apiToken --show-secrets); TURNKEY_API_TOKEN
                or --token-file keep it out of the process list
  --user        user id the credentials are minted for (default turnkey-check)
  --json        print the report as JSON
  --ca          PEM CA certificates to trust for turns: and https (a private CA)
  --timeout     milliseconds for each network step (default 3000)`;

export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
}

const usage = (message: string) => new CheckUsageError(message);

function parse(argv: string[], env: Io['env']) {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (err) {
    throw new CheckUsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals[0] !== 'check' || positionals.length > 1) {
    throw new CheckUsageError(
      positionals.length === 0 ? 'no command given' : `unknown command "${positionals.join(' ')}"`,
    );
  }
  if (!values.url) throw new CheckUsageError("--url is required: the deployment's iceServersUrl");
  const token = apiTokenArg(values, env, usage);
  const user = values.user ?? 'turnkey-check';
  if (!isValidUserId(user)) {
    throw new CheckUsageError('--user must be 1-128 of A-Z a-z 0-9 . _ ~ @ + -');
  }
  const timeoutMs = values.timeout === undefined ? 3000 : Number(values.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 60_000) {
    throw new CheckUsageError('--timeout must be whole milliseconds from 100 to 60000');
  }
  return {
    url: values.url,
    token,
    user,
    timeoutMs,
    json: values.json ?? false,
    ...(values.ca ? { ca: readFileArg('--ca', values.ca, usage) } : {}),
  };
}

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      user: { type: 'string' },
      json: { type: 'boolean' },
      ca: { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

export async function main(argv: string[], io: Io): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(USAGE);
    return 0;
  }
  try {
    const { json, ...opts } = parse(argv, io.env);
    const report = await runCheck(opts);
    io.out(json ? JSON.stringify(report, null, 2) : formatReport(report));
    return exitCode(report);
  } catch (err) {
    if (!(err instanceof CheckUsageError)) throw err;
    io.err(`turnkey: ${err.message}\n\n${USAGE}`);
    return 2;
  }
}
