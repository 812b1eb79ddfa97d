import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it } from 'vitest';
import { installMocks, ofType, resolved, TYPES } from './mocks';

/** The stack entry point itself, with the dev stack's config as `pulumi up` would pass it. */
let program: typeof import('../../infra/program.js');

beforeAll(async () => {
  await installMocks('dev');
  pulumi.runtime.setAllConfig({
    'turnkey:provider': 'coturn',
    'turnkey:publicHost': '127.0.0.1',
    'turnkey:relayPorts': '31000-31099',
  });
  program = await import('../../infra/program.js');
});

describe('infra/program.ts', () => {
  it('exports iceServersUrl, apiToken (secret), provider, turnUris and stunUris', async () => {
    expect(await resolved(program.iceServersUrl)).toBe('http://127.0.0.1:8080/v1/ice-servers');
    expect(await resolved(program.provider)).toBe('coturn');
    expect(await resolved(program.turnUris)).toEqual([
      'turn:127.0.0.1:3478?transport=udp',
      'turn:127.0.0.1:3478?transport=tcp',
    ]);
    expect(await resolved(program.stunUris)).toEqual(['stun:127.0.0.1:3478']);
    expect(await pulumi.isSecret(program.apiToken)).toBe(true);
    expect(await resolved(program.apiToken)).toMatch(/^pw-/);
  });

  it('names containers and image tags after the stack', async () => {
    await expect.poll(() => ofType(TYPES.container, 'turnkey-').length).toBe(2);
    expect(
      ofType(TYPES.container, 'turnkey-')
        .map((c) => c.inputs.name)
        .sort(),
    ).toEqual(['turnkey-dev-coturn', 'turnkey-dev-service']);
    expect(
      ofType(TYPES.image, 'turnkey-')
        .map((c) => c.inputs.imageName)
        .sort(),
    ).toEqual(['turnkey-coturn:dev', 'turnkey-service:dev']);
  });
});
