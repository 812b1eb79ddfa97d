import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildContext } from '../helpers/build-context';
import { copyCheckout } from '../helpers/checkout';
import { REPO_ROOT } from '../helpers/stack';

/**
 * README's "Using the component in your own program", verbatim, as a scratch Pulumi program
 * outside the repository that installed turnkey from `npm pack`'s tarball, run as `pulumi up`
 * runs it (test/pulumi/language-host.js: the SDK's own loader, ts-node, type-checked).
 */

const run = promisify(execFile);
const host = join(REPO_ROOT, 'test/pulumi/language-host.js');
const version = (pkg: string) =>
  (
    JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;

/** The README's example program: the first ts block under its heading. */
function readmeExample(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Using the component in your own program'));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  if (!m?.[1]) throw new Error('README has no ts example under "Using the component"');
  return m[1];
}

let checkout: string;
let scratch: string;

beforeAll(async () => {
  checkout = copyCheckout();
  const packed = (
    await run('npm', ['pack', '--pack-destination', checkout], { cwd: checkout, timeout: 300_000 })
  ).stdout
    .trim()
    .split('\n')
    .at(-1) as string;
  scratch = mkdtempSync(join(tmpdir(), 'turnkey-scratch-'));
  // What `pulumi new typescript` makes, with the README's program as index.ts.
  writeFileSync(join(scratch, 'Pulumi.yaml'), 'name: scratch\nruntime: nodejs\n');
  writeFileSync(
    join(scratch, 'package.json'),
    JSON.stringify({ name: 'scratch', private: true, main: 'index.ts' }),
  );
  writeFileSync(
    join(scratch, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        outDir: 'bin',
        target: 'es2020',
        module: 'commonjs',
        moduleResolution: 'node',
        sourceMap: true,
        forceConsistentCasingInFileNames: true,
      },
      files: ['index.ts'],
    }),
  );
  writeFileSync(join(scratch, 'index.ts'), readmeExample());
  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      join(checkout, packed),
      `typescript@${version('typescript')}`,
      `ts-node@${version('ts-node')}`,
      `@types/node@${version('@types/node')}`,
    ],
    { cwd: scratch, timeout: 600_000 },
  );
}, 900_000);

afterAll(() => {
  for (const dir of [checkout, scratch]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the component from the packed package, in a program of your own', () => {
  let result: {
    registered: { type: string; name: string; build?: { context: string; dockerfile: string } }[];
    outputs: Record<string, { value: unknown; secret: boolean }>;
  };

  beforeAll(async () => {
    const { stdout } = await run('node', [host, scratch, 'dev', '{}'], {
      cwd: scratch,
      timeout: 300_000,
    });
    result = JSON.parse(stdout.trim().split('\n').at(-1) as string);
  }, 300_000);

  it('type-checks and runs as pulumi up runs it, deploying a relay and exporting its endpoint', () => {
    const of = (type: string) =>
      result.registered
        .filter((r) => r.type === type)
        .map((r) => r.name)
        .sort();
    expect(of('docker:index/container:Container')).toEqual(['relay-coturn', 'relay-service']);
    expect(of('random:index/randomPassword:RandomPassword')).toEqual([
      'relay-api-token',
      'relay-turn-secret-gen1',
    ]);
    // Without TLS the service listens on loopback only (plain HTTP never on a public address).
    expect(result.outputs.iceServersUrl?.value).toBe('http://127.0.0.1:8080/v1/ice-servers');
  });

  it('builds its images from the installed package: the Dockerfiles, the relay config and the prebuilt service bundle', () => {
    const images = result.registered.filter((r) => r.build);
    expect(images.map((i) => i.name).sort()).toEqual(['relay-coturn', 'relay-service']);
    const files = (name: string) => {
      const build = images.find((i) => i.name === name)?.build;
      if (!build) throw new Error(`no image ${name}`);
      // Relative to the program directory, where the Docker provider runs.
      expect(
        resolve(scratch, build.context).startsWith(join(scratch, 'node_modules/turnkey')),
      ).toBe(true);
      return buildContext(resolve(scratch, build.context), resolve(scratch, build.dockerfile))
        .files;
    };
    expect(files('relay-coturn')).toEqual([
      'Dockerfile.coturn',
      'entrypoint.sh',
      'turnserver.conf',
    ]);
    expect(files('relay-service')).toEqual(['dist/bundle/main.js', 'service/Dockerfile']);
  });
});

describe('npx turnkey compose from the packed package (README "Without Pulumi: Docker Compose")', () => {
  it('writes the dev deployment as compose.yaml, with its build contexts and secrets beside it', async () => {
    const { stdout, stderr } = await run('npx', ['--no-install', 'turnkey', 'compose', '--dev'], {
      cwd: scratch,
      timeout: 120_000,
    });
    expect(stderr).toMatch(/wrote \.turnkey\//);
    const doc = parse(stdout) as {
      services: Record<string, { image: string; build: { context: string; dockerfile: string } }>;
    };
    expect(Object.keys(doc.services)).toEqual(['service', 'coturn']);
    expect(doc.services.coturn?.build).toEqual({
      context: './.turnkey/images/coturn',
      dockerfile: 'Dockerfile.coturn',
    });
    // The shipped bundle and Dockerfiles, not a checkout's sources.
    expect(readFileSync(join(scratch, '.turnkey/images/service/dist/bundle/main.js'), 'utf8')).toBe(
      readFileSync(join(scratch, 'node_modules/turnkey/dist/bundle/main.js'), 'utf8'),
    );
    expect(readFileSync(join(scratch, '.turnkey/secrets/apiToken'), 'utf8')).toMatch(
      /^[A-Za-z0-9]{48}$/,
    );
  });
});
