#!/usr/bin/env node
import { composeMain } from '../infra/compose/cli';
import { main as checkMain } from '../service/check/cli';
import { revokeMain } from '../service/revoke/cli';

/**
 * The `turnkey` command (the package's bin): `check` verifies a live deployment from outside
 * (service/check/), `compose` writes the plan as a compose.yaml (infra/compose/), `revoke`
 * revokes a user through the API (service/revoke/). Each
 * command parses its own arguments; exit 2 is bad usage.
 */

const USAGE = `usage: turnkey <command> [options]

  check     relay data through every URI a deployment hands out: turnkey check --help
  compose   a compose.yaml of the deployment, for Docker Compose: turnkey compose --help
  revoke    end a user's calls and refuse them credentials, fleet-wide: turnkey revoke --help`;

export async function run(argv: string[]): Promise<number> {
  const out = (t: string) => process.stdout.write(`${t}\n`);
  const err = (t: string) => process.stderr.write(`${t}\n`);
  switch (argv.find((a) => !a.startsWith('-'))) {
    case 'check':
      return checkMain(argv, { out, err, env: process.env });
    case 'compose':
      return composeMain(argv, { out, err, cwd: process.cwd() });
    case 'revoke':
      return revokeMain(argv, { out, err, env: process.env });
    default:
      if (argv.includes('--help') || argv.includes('-h')) {
        out(USAGE);
        return 0;
      }
      err(
        `turnkey: ${argv.length === 0 ? 'no command given' : `unknown command "${argv.join(' ')}"`}\n\n${USAGE}`,
      );
      return 2;
  }
}

if (require.main === module) {
  run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`turnkey: ${(error as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
