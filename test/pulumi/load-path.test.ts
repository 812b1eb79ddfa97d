import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureServiceBundle, SERVICE_BUNDLE } from '../../infra';
import { copyCheckout } from '../helpers/checkout';
import { expectTheDevStack, pulumiUp as runProgram } from '../helpers/language-host';
import { REPO_ROOT, stackConfigValues } from '../helpers/stack';

/**
 * `pulumi up` as the CLI runs the program: Pulumi.yaml's `main` resolved as the engine resolves
 * it, then the SDK's own cmd/run run() (ts-node, type-checked), in a copy of this project made
 * as a user's checkout would be: once fresh (no dist/), once after `npm run build`, which puts
 * package.json's "main" (the service library) on disk. vitest's esbuild transform checks no
 * types, so this is also what catches a program that `pulumi up` would reject.
 */

const run = promisify(execFile);
const devStackConfig = () => stackConfigValues('dev');

let checkout: string;

beforeAll(() => {
  checkout = copyCheckout();
});
afterAll(() => rmSync(checkout, { recursive: true, force: true }));

const pulumiUp = (config: Record<string, string>, secretKeys: string[] = []) =>
  runProgram(checkout, config, secretKeys);

describe('the load path of pulumi up (the SDK’s cmd/run, ts-node, type-checked)', () => {
  it('on a fresh checkout: runs infra/ with the dev stack and registers the whole stack', async () => {
    expectTheDevStack(await pulumiUp(devStackConfig()));
  }, 180_000);

  it('bundles the service byte for byte as on any other checkout path (so its image context is unchanged)', async () => {
    ensureServiceBundle(REPO_ROOT);
    const bundle = (root: string) => readFileSync(join(root, SERVICE_BUNDLE));
    expect(bundle(checkout).equals(bundle(REPO_ROOT))).toBe(true);
  });

  it('reports a config error as one message naming the key', async () => {
    const bad = { ...devStackConfig(), 'turnkey:relayPorts': '5-1' };
    const err = (await pulumiUp(bad).catch((e: unknown) => e)) as { stderr: string };
    expect(err.stderr).toContain(
      'turnkey:relayPorts must be a range MIN-MAX within 1024-65535, got "5-1": run `pulumi config set turnkey:relayPorts 49152-65535`',
    );
  }, 180_000);

  it('refuses a secret key the CLI stored in plaintext (set without --secret), with the command', async () => {
    const tls = { ...devStackConfig(), 'turnkey:tlsCert': 'CERT', 'turnkey:tlsKey': 'KEY' };
    const err = (await pulumiUp(tls, ['turnkey:tlsCert']).catch((e: unknown) => e)) as {
      stderr: string;
    };
    expect(err.stderr).toContain(
      'turnkey:tlsKey is stored in plaintext in Pulumi.<stack>.yaml: set it again encrypted: run `cat privkey.pem | pulumi config set --secret turnkey:tlsKey`',
    );
    expect(err.stderr).not.toContain('KEY\n');
  }, 180_000);

  it('a fleet (turnkey:relays as `pulumi config set --path` stores it): a relay per host, one secret, iceServersUrls', async () => {
    const relays = [
      { publicHost: 'eu.turn.example.com', region: 'eu-west' },
      {
        dockerHost: 'ssh://deploy@us.example.com',
        publicHost: 'us.turn.example.com',
        region: 'us-east',
        name: 'us-east',
      },
    ];
    const result = await pulumiUp({ 'turnkey:relays': JSON.stringify(relays) });
    const of = (type: string) =>
      result.registered
        .filter((r) => r.type === type)
        .map((r) => r.name)
        .sort();
    expect(of('docker:index/container:Container')).toEqual([
      'turnkey-coturn',
      'turnkey-service',
      'turnkey-us-east-coturn',
      'turnkey-us-east-service',
    ]);
    expect(of('random:index/randomPassword:RandomPassword')).toEqual([
      'turnkey-api-token',
      'turnkey-turn-secret-gen1',
    ]);
    expect(result.outputs.iceServersUrls).toMatchObject({
      value: ['http://127.0.0.1:8080/v1/ice-servers', 'http://127.0.0.1:8080/v1/ice-servers'],
    });
    expect(result.outputs.turnUris?.value).toEqual([
      'turn:eu.turn.example.com:3478?transport=udp',
      'turn:eu.turn.example.com:3478?transport=tcp',
    ]);
  }, 180_000);

  it('after `npm run build` (dist/ present): still runs infra/, never the service library', async () => {
    await run('npm', ['run', 'build'], { cwd: checkout, timeout: 180_000 });
    expectTheDevStack(await pulumiUp(devStackConfig()));
  }, 360_000);
});
