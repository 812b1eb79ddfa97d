import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import standIns from '../docker/stand-ins.json';
import { REPO_ROOT } from '../helpers/stack';
import { type LabBrowser, launchLabChromium } from './browser';
import type { RelayTransport } from './deployment';
import { expectCheckPasses, expectRelayedCall } from './dev-machine';
import { type LabEngine, startLabEngine } from './engine';
import { createLab, type Lab } from './lab';

/**
 * The compose path for teams without Pulumi, on a developer's machine (a lab host with its own
 * Docker engine): `turnkey compose --dev > compose.yaml`, then Debian's docker-compose builds
 * and starts it there. The relay and service it runs are the dev stack's (the file is the plan:
 * test/unit/compose.test.ts), so two relay-only tabs call each other and `turnkey check`
 * passes; the secrets reach the containers as files and nowhere else.
 */

const run = promisify(execFile);

let lab: Lab;
let engine: LabEngine;
let chromium: LabBrowser;
let dir: string;
const machine = () => lab.backend.ns;
const token = () => readFileSync(join(dir, '.turnkey/secrets/apiToken'), 'utf8');
const ICE_SERVERS_URL = 'http://127.0.0.1:8080/v1/ice-servers';

/** Debian's docker-compose (1.29) against the machine's engine, in the compose project. */
const compose = (args: string[]) =>
  run('docker-compose', args, {
    cwd: dir,
    env: { ...process.env, DOCKER_HOST: engine.host },
    maxBuffer: 64 << 20,
  });

beforeAll(async () => {
  lab = await createLab('cp');
  engine = await startLabEngine(machine());
  // No registry: the base images the Dockerfiles start from, made locally (test/docker).
  await engine.loadImages([standIns.nodeImage, standIns.coturnImage]);
  dir = mkdtempSync(join(tmpdir(), 'turnkey-compose-'));
  const generated = await run(
    process.execPath,
    [
      // From the checkout as it is (the package's bin is its tsc build, dist/cli/main.js).
      '--require',
      'ts-node/register/transpile-only',
      join(REPO_ROOT, 'cli/main.ts'),
      'compose',
      '--dev',
      '--set',
      `nodeImage=${standIns.nodeImage}`,
      '--set',
      `coturnImage=${standIns.coturnImage}`,
    ],
    {
      cwd: dir,
      env: {
        ...process.env,
        TS_NODE_PROJECT: join(REPO_ROOT, 'tsconfig.json'),
        NODE_PATH: join(REPO_ROOT, 'node_modules'),
      },
    },
  );
  writeFileSync(join(dir, 'compose.yaml'), generated.stdout);
  await compose(['up', '-d', '--build']);
  // Up means healthy, as `pulumi up` waits for it.
  const deadline = Date.now() + 90_000;
  for (;;) {
    const states = await Promise.all(
      ['turnkey-dev-service', 'turnkey-dev-coturn'].map(async (name) => {
        const c = (await engine.api.call('GET', `/containers/${name}/json`)) as {
          State: { Health?: { Status: string } };
        };
        return c.State.Health?.Status;
      }),
    );
    if (states.every((s) => s === 'healthy')) break;
    if (Date.now() > deadline)
      throw new Error(
        `not healthy within 90 s: ${states.join(', ')}\n${(await compose(['logs'])).stdout}`,
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
  chromium = await launchLabChromium(machine());
}, 600_000);

afterAll(async () => {
  await chromium?.close();
  if (engine && dir) await compose(['down', '-v']).catch(() => {});
  await engine?.stop();
  await lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('turnkey compose --dev, run by docker-compose on a developer’s machine', () => {
  for (const transport of ['udp', 'tcp'] as RelayTransport[])
    it(`two tabs forcing relay candidates call each other through its relay over ${transport}`, async () => {
      await expectRelayedCall(lab, chromium, ICE_SERVERS_URL, token(), transport);
    }, 120_000);

  it('turnkey check passes against it, reading the token from the compose project’s file', async () => {
    await expectCheckPasses(lab, machine(), ICE_SERVERS_URL, {
      file: join(dir, '.turnkey/secrets/apiToken'),
    });
  }, 120_000);

  it('gives the service its secrets as read-only files, and shows them nowhere else', async () => {
    const secrets = ['apiToken', 'turnSecret'].map((s) =>
      readFileSync(join(dir, '.turnkey/secrets', s), 'utf8'),
    );
    const file = readFileSync(join(dir, 'compose.yaml'), 'utf8');
    for (const name of ['turnkey-dev-service', 'turnkey-dev-coturn']) {
      const inspect = JSON.stringify(await engine.api.call('GET', `/containers/${name}/json`));
      for (const s of secrets) expect(inspect).not.toContain(s);
    }
    for (const s of secrets) expect(file).not.toContain(s);
    const mounts = (
      (await engine.api.call('GET', '/containers/turnkey-dev-service/json')) as {
        Mounts: { Type: string; Destination: string; RW: boolean }[];
      }
    ).Mounts.filter((m) => m.Type === 'bind');
    expect(mounts.map((m) => [m.Destination, m.RW]).sort()).toEqual([
      ['/run/secrets/api-tokens', false],
      ['/run/secrets/turn-secret', false],
    ]);
  });
});
