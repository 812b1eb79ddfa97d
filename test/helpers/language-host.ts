import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';

/**
 * `pulumi up` of the program in `checkout` as the CLI runs it: test/pulumi/language-host.js
 * resolves Pulumi.yaml's `main` and runs the SDK's own cmd/run with the mock runtime, with
 * these `turnkey:*` values (secret keys only named). What the program registered and exported.
 */

const run = promisify(execFile);
const host = join(__dirname, '../pulumi/language-host.js');

export interface ProgramRun {
  registered: { type: string; name: string }[];
  outputs: Record<string, { value: unknown; secret: boolean }>;
}

export async function pulumiUp(
  checkout: string,
  config: Record<string, string>,
  secretKeys: string[] = [],
  timeoutMs = 180_000,
): Promise<ProgramRun> {
  const { stdout } = await run(
    'node',
    [host, checkout, 'dev', JSON.stringify(config), JSON.stringify(secretKeys)],
    { cwd: checkout, timeout: timeoutMs },
  ).catch((err: { stderr?: string; message: string }) => {
    // The SDK's own error output says what failed (to load, or in the program).
    throw Object.assign(new Error(err.stderr || err.message), { stderr: err.stderr ?? '' });
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as ProgramRun;
}

/** The dev stack, registered and exported whole: both containers and images, the two secrets. */
export function expectTheDevStack(result: ProgramRun) {
  const of = (type: string) =>
    result.registered
      .filter((r) => r.type === type)
      .map((r) => r.name)
      .sort();
  expect(of('docker:index/container:Container')).toEqual(['turnkey-coturn', 'turnkey-service']);
  expect(of('docker:index/image:Image')).toEqual(['turnkey-coturn', 'turnkey-service']);
  expect(of('random:index/randomPassword:RandomPassword')).toEqual([
    'turnkey-api-token',
    'turnkey-turn-secret-gen1',
  ]);
  expect(result.outputs).toMatchObject({
    iceServersUrl: { value: 'http://127.0.0.1:8080/v1/ice-servers', secret: false },
    provider: { value: 'coturn' },
    turnUris: {
      value: ['turn:127.0.0.1:3478?transport=udp', 'turn:127.0.0.1:3478?transport=tcp'],
    },
    stunUris: { value: ['stun:127.0.0.1:3478'] },
    apiToken: { secret: true },
  });
}
