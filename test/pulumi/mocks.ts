import { createHash } from 'node:crypto';
import * as pulumi from '@pulumi/pulumi';

/**
 * Pulumi's own mock runtime: every resource the program registers is recorded with its
 * inputs. Generated passwords get a distinct value per resource, images an ID derived from
 * their name, so tests can tell which secret went where.
 */
export interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  /** `<provider urn>::<provider id>` when the resource has an explicit provider. */
  provider?: string;
}

export const registered: Registered[] = [];

export const mockPassword = (resourceName: string) =>
  `pw-${createHash('sha256').update(resourceName).digest('hex').slice(0, 40)}`;
export const mockImageId = (resourceName: string) =>
  `sha256:${createHash('sha256').update(resourceName).digest('hex')}`;

export function installMocks(stack = 'dev'): Promise<void> {
  return pulumi.runtime.setMocks(
    {
      newResource(args) {
        registered.push({
          type: args.type,
          name: args.name,
          inputs: args.inputs,
          ...(args.provider ? { provider: args.provider } : {}),
        });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === 'random:index/randomPassword:RandomPassword')
          state.result = mockPassword(args.name);
        if (args.type === 'docker:index/image:Image') state.repoDigest = mockImageId(args.name);
        return { id: `${args.name}-id`, state };
      },
      call: (args) => args.inputs,
    },
    'turnkey',
    stack,
    false,
  );
}

/** The value inside an Output (mocks resolve everything). */
export const resolved = <T>(o: pulumi.Output<T>): Promise<T> =>
  new Promise((resolve) => o.apply(resolve));

export const ofType = (type: string, prefix: string) =>
  registered.filter((r) => r.type === type && r.name.startsWith(prefix));

export const TYPES = {
  password: 'random:index/randomPassword:RandomPassword',
  image: 'docker:index/image:Image',
  container: 'docker:index/container:Container',
  volume: 'docker:index/volume:Volume',
} as const;

/** Whether a recorded input arrived as a Pulumi secret (and so is encrypted in state). */
export const isSecretInput = (v: unknown): boolean =>
  typeof v === 'object' &&
  v !== null &&
  (v as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;

/** A recorded input with any secret envelope removed. */
export const plain = <T>(v: unknown): T =>
  isSecretInput(v) ? (v as { value: T }).value : (v as T);

/** A three-region `turnkey:relays` (the first host on the stack's docker:host, one behind 1:1 NAT). */
export const FLEET_RELAYS = [
  { publicHost: 'eu.turn.example.com', region: 'eu-west' },
  {
    dockerHost: 'ssh://deploy@us.turn.example.com',
    publicHost: 'us.turn.example.com',
    externalIp: '203.0.113.9/10.0.0.9',
    region: 'us-east',
    name: 'us-east',
  },
  {
    dockerHost: 'ssh://deploy@ap.turn.example.com',
    publicHost: '198.51.100.4',
    region: 'ap',
    name: 'ap',
  },
];
