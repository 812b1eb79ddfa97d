import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Kind, SETTINGS, type Setting } from '../contract/settings';

/**
 * The reference tables, made from the settings table (contract/settings.ts): docs/reference.md
 * whole, and the stack-key table between the markers in README.md. `npm run docs` writes them;
 * `npm test` (test/unit/settings.test.ts) fails when a committed file differs from what this
 * makes, so a setting is documented by its entry alone.
 */

const ROOT = join(__dirname, '..');
const entries = Object.entries(SETTINGS) as [string, Setting][];

const code = (s: string) => `\`${s}\``;
const cell = (s: string) => s.replace(/\|/g, '\\|');

function bounds(kind: Kind): string {
  switch (kind.type) {
    case 'int':
      return `${kind.min.toLocaleString('en-US')}–${kind.max.toLocaleString('en-US')}`;
    case 'port':
      return '1–65535';
    case 'bool':
      return 'true, false';
    case 'enum':
      return kind.values.join(', ');
    case 'range':
      return 'MIN-MAX';
    case 'list':
      return 'comma-separated';
    case 'json':
      return 'structured';
    case 'secret':
      return 'secret';
    default:
      return '';
  }
}

function defaults(s: Setting): string {
  if (s.default === undefined) return '';
  const stack = code(String(s.default));
  return s.envDefault === undefined ? stack : `${stack} (env: ${code(String(s.envDefault))})`;
}

function vars(s: Setting): string {
  const secretFile = s.kind.type === 'secret';
  const names = [
    ...(s.service ?? []).map((v) => `${v} (service)`),
    ...(s.relay ?? []).map((v) => `${v} (relay)`),
  ];
  const shown = [
    ...new Set(
      names.map((n) => {
        const [v] = n.split(' ');
        return secretFile && !v?.endsWith('_FILE')
          ? `${code(v as string)}/${code(`${v}_FILE`)} ${n.slice(n.indexOf('('))}`
          : `${code(v as string)} ${n.slice(n.indexOf('('))}`;
      }),
    ),
  ];
  const old = Object.keys(s.deprecated ?? {}).map((o) => `${code(o)} (deprecated)`);
  return [...shown, ...old].join(', ');
}

export function stackTable(): string {
  const rows = entries
    .filter(([, s]) => s.stack)
    .map(
      ([name, s]) =>
        `| ${code(`turnkey:${name}`)}${s.secret ? ' (secret)' : ''} | ${cell(defaults(s))} | ${cell(s.doc)} |`,
    );
  return ['| stack key | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

export function referenceDoc(): string {
  const full = (stack: boolean) =>
    [
      '| setting | stack key | variables | default | bounds | secret | meaning |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...entries
        .filter(([, s]) => s.stack === stack)
        .map(
          ([name, s]) =>
            `| ${name} | ${s.stack ? code(`turnkey:${name}`) : ''} | ${vars(s)} | ${cell(defaults(s))} | ${cell(bounds(s.kind))} | ${s.secret ? 'yes' : ''} | ${cell(s.doc)} |`,
        ),
    ].join('\n');
  return `# Settings reference

<!-- Written by \`npm run docs\` from contract/settings.ts; edit the table there, not here. -->

Every setting has one name (the first column): the stack key is \`turnkey:<name>\` (set with
\`pulumi config set\`; secrets with \`--secret\`, structured keys with \`--path\`), the
component's \`TurnkeyRelayArgs\` take the same name, and the containers read the variables
listed. A variable marked (service) is the credential service's, (relay) the relay container's
(\`coturn/entrypoint.sh\`); a secret variable may instead name a file holding it (\`NAME_FILE\`),
and certificates are always files. A deprecated name is still accepted and logs a line naming
its replacement.

## Stack keys

${full(true)}

## Set by the stack (or by hand, running a container yourself)

${full(false)}
`;
}

const BEGIN = '<!-- settings:stack:begin -->';
const END = '<!-- settings:stack:end -->';

/** README.md with the stack-key table between its markers. */
export function readmeWithTable(readme: string): string {
  const i = readme.indexOf(BEGIN);
  const j = readme.indexOf(END);
  if (i < 0 || j < i) throw new Error(`README.md needs the markers ${BEGIN} and ${END}`);
  return `${readme.slice(0, i + BEGIN.length)}\n${stackTable()}\n${readme.slice(j)}`;
}

export const REFERENCE_FILE = join(ROOT, 'docs/reference.md');
export const README_FILE = join(ROOT, 'README.md');

if (require.main === module) {
  writeFileSync(REFERENCE_FILE, referenceDoc());
  writeFileSync(README_FILE, readmeWithTable(readFileSync(README_FILE, 'utf8')));
  console.log('wrote docs/reference.md and the settings table in README.md');
}
