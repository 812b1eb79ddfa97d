import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Document, parse } from 'yaml';
import { SECRET_STACK_KEYS } from '../../contract';
import { PACKAGE_ROOT } from '../build/package-root';
import { planDeployment } from '../plan/deployment';
import { StackConfigError } from '../stack/errors';
import { readStackConfig } from '../stack/read';
import { valuesSource } from '../stack/source';
import { composeDocument } from './document';
import { ComposeProjectError, writeComposeProject } from './project';

/**
 * `turnkey compose`: the plan `pulumi up` would deploy to one Docker host, as a compose.yaml
 * on stdout, for teams without Pulumi. Settings are the stack keys (`--set key=value`, and with
 * `--dev` the dev stack's Pulumi.dev.yaml first), checked by the same stack reader; the secrets
 * and build contexts go into a directory beside the file (infra/compose/project.ts).
 */

export const COMPOSE_USAGE = `usage: turnkey compose [--dev] [--set <key>=<value>]... [--stack <name>] [--dir <dir>] > compose.yaml

  --dev      start from the dev stack (Pulumi.dev.yaml): relay and service on 127.0.0.1
  --set      a turnkey stack key (without "turnkey:"), e.g. --set publicHost=turn.example.com;
             secret ones (tlsCert, tlsKey, meteredApiKey, meteredCredentialApiKey) are files
             in <dir>/secrets/ named after the key, never values on the command line
  --stack    names the containers, volumes and image tags (default: dev with --dev, else compose)
  --dir      where the build contexts and secrets go, beside compose.yaml (default .turnkey)

Run it where compose.yaml goes, then: docker compose up -d --build`;

export interface ComposeIo {
  out(text: string): void;
  err(text: string): void;
  cwd: string;
}

class ComposeUsageError extends Error {}

/** The dev stack's `turnkey:*` settings, without the prefix. */
function devStackValues(): Record<string, string> {
  const doc = parse(readFileSync(join(PACKAGE_ROOT, 'Pulumi.dev.yaml'), 'utf8')) as {
    config?: Record<string, unknown>;
  };
  return Object.fromEntries(
    Object.entries(doc.config ?? {})
      .filter(([k]) => k.startsWith('turnkey:'))
      .map(([k, v]) => [k.slice('turnkey:'.length), String(v)]),
  );
}

/**
 * A stack reader's message, whose fix is a `pulumi config` command, told the compose way:
 * a `--set`, or a file in the secrets directory for a secret key.
 */
function composeFix(message: string, dir: string): string {
  return message
    .replace(
      /`(?:[^`|]*\| )?pulumi config set --secret (?:--path )?'?turnkey:([^\s']+)'?[^`]*`/g,
      (_, key: string) => `write it to ${dir}/secrets/${key}`,
    )
    .replace(
      /`pulumi config set (?:--path )?'?turnkey:([^\s']+)'? ([^`]*)`/g,
      (_, key: string, value: string) => `\`--set ${key}=${value}\``,
    )
    .replace(/`pulumi config rm turnkey:([^\s`]+)`/g, (_, key: string) => `leave out --set ${key}`);
}

export function composeMain(argv: string[], io: ComposeIo): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(COMPOSE_USAGE);
    return 0;
  }
  let dir = '.turnkey';
  try {
    const { values: flags, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        dev: { type: 'boolean' },
        set: { type: 'string', multiple: true },
        stack: { type: 'string' },
        dir: { type: 'string' },
      },
    });
    if (positionals[0] !== 'compose' || positionals.length > 1)
      throw new ComposeUsageError(`unknown argument "${positionals.slice(1).join(' ')}"`);
    dir = flags.dir ?? dir;
    const values: Record<string, string> = flags.dev ? devStackValues() : {};
    for (const pair of flags.set ?? []) {
      const eq = pair.indexOf('=');
      if (eq < 1) throw new ComposeUsageError(`--set takes key=value, got "${pair}"`);
      const key = pair.slice(0, eq).replace(/^turnkey:/, '');
      if ((SECRET_STACK_KEYS as readonly string[]).includes(key))
        throw new ComposeUsageError(
          `turnkey:${key} is a secret: write it to ${dir}/secrets/${key} instead of passing it on the command line`,
        );
      if (key === 'relays')
        throw new ComposeUsageError(
          'turnkey compose runs one host: a fleet (turnkey:relays) is for pulumi up; generate one compose.yaml per host with its own --set publicHost=…',
        );
      values[key] = pair.slice(eq + 1);
    }
    if (values.publicHost === undefined)
      throw new ComposeUsageError(
        'no publicHost: --dev for this machine, or --set publicHost=<the host or IP browsers use>',
      );
    const projectDir = resolve(io.cwd, dir);
    // Supplied secrets are set when their file is there (a CA certificate is a plain value).
    const supplied = (name: string) => existsSync(join(projectDir, 'secrets', name));
    if (supplied('acmeCaCert'))
      values.acmeCaCert = readFileSync(join(projectDir, 'secrets', 'acmeCaCert'), 'utf8');
    const config = readStackConfig(valuesSource(values, SECRET_STACK_KEYS.filter(supplied)));
    const stack = flags.stack ?? (flags.dev ? 'dev' : 'compose');
    const plan = planDeployment(config, { stack, projectRoot: PACKAGE_ROOT });
    const project = writeComposeProject(plan, PACKAGE_ROOT, projectDir, io.cwd);
    // No anchors: each service reads whole, as the plan gives it.
    const doc = new Document(composeDocument(plan, project.paths), {
      aliasDuplicateObjects: false,
    });
    doc.commentBefore = ` Generated by \`turnkey compose${argv.length > 1 ? ` ${argv.slice(1).join(' ')}` : ''}\` from the plan \`pulumi up\` deploys: regenerate rather than edit.\n Secrets are files in ${dir}/secrets/, never in this file. Run: docker compose up -d --build`;
    io.out(doc.toString({ lineWidth: 0 }));
    io.err(
      `turnkey compose: wrote ${dir}/ (build contexts, secrets in ${dir}/secrets/${
        project.generated.length > 0 ? `, generated now: ${project.generated.join(', ')}` : ''
      }); the ice-servers endpoint will be ${plan.outputs.iceServersUrl}`,
    );
    return 0;
  } catch (err) {
    if (err instanceof StackConfigError) {
      io.err(`turnkey compose: ${composeFix(err.message, dir)}`);
      return 2;
    }
    if (err instanceof ComposeUsageError || err instanceof ComposeProjectError) {
      io.err(`turnkey compose: ${err.message}\n\n${COMPOSE_USAGE}`);
      return 2;
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`turnkey compose: ${(err as Error).message}\n\n${COMPOSE_USAGE}`);
      return 2;
    }
    throw err;
  }
}
