import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT as REPO, stackConfigValues } from '../helpers/stack';

const run = promisify(execFile);
const script = join(__dirname, 'load-like-pulumi-up.js');
const devStackConfig = () => stackConfigValues('dev');

describe('the load path of pulumi up (ts-node, type-checked)', () => {
  it('type-checks and runs infra/ with the dev stack, exporting the stack outputs', async () => {
    const { stdout } = await run('node', [script, JSON.stringify(devStackConfig())], {
      cwd: REPO,
      timeout: 120_000,
    });
    const outputs = JSON.parse(stdout.trim().split('\n').at(-1) as string);
    expect(outputs).toMatchObject({
      iceServersUrl: 'http://127.0.0.1:8080/v1/ice-servers',
      provider: 'coturn',
      turnUris: ['turn:127.0.0.1:3478?transport=udp', 'turn:127.0.0.1:3478?transport=tcp'],
      stunUris: ['stun:127.0.0.1:3478'],
      apiTokenIsSecret: true,
      iceServersUrlIsSecret: false,
    });
  }, 120_000);

  it('reports a config error as one message naming the key', async () => {
    const bad = JSON.stringify({ ...devStackConfig(), 'turnkey:relayPorts': '5-1' });
    const err = (await run('node', [script, bad], { cwd: REPO, timeout: 120_000 }).catch(
      (e: unknown) => e,
    )) as { stderr: string };
    expect(err.stderr.trim()).toBe(
      'turnkey:relayPorts must be a range MIN-MAX within 1024-65535, got "5-1": run `pulumi config set turnkey:relayPorts 49152-65535`',
    );
  }, 120_000);
});
