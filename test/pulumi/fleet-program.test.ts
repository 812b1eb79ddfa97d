import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it } from 'vitest';
import { planFleet, readFleetConfig } from '../../infra';
import { REPO_ROOT } from '../helpers/stack';
import {
  installMocks,
  mockPassword,
  plain,
  FLEET_RELAYS as RELAYS,
  registered,
  resolved,
  TYPES,
} from './mocks';

/**
 * The stack entry point with a two-region `turnkey:relays`, as `pulumi config set --path`
 * stores it (one JSON value) and `pulumi up` passes it: providers per host, one secret,
 * rolling order.
 */

const CONFIG = { 'turnkey:relays': JSON.stringify(RELAYS), 'turnkey:secretGeneration': '2' };

let program: typeof import('../../infra/program.js');

beforeAll(async () => {
  await installMocks('prod');
  pulumi.runtime.setAllConfig(CONFIG);
  program = await import('../../infra/program.js');
  await resolved(program.iceServersUrls);
  // Containers register once their images (and the previous host's containers) resolve.
  for (let i = 0; i < 200 && containers().length < 6; i++)
    await new Promise((r) => setTimeout(r, 10));
});

const containers = () => registered.filter((r) => r.type === TYPES.container);
const byName = (name: string) =>
  registered.find((r) => r.type === TYPES.container && r.name === name);
const envs = (name: string) => (byName(name)?.inputs.envs ?? []) as string[];
type Upload = { file: string; content: string };
const upload = (name: string, file: string) =>
  plain<Upload[]>(byName(name)?.inputs.uploads ?? []).find((u) => u.file === file)?.content;
const RELAY_NAMES = ['turnkey', 'turnkey-us-east', 'turnkey-ap'];

describe('a fleet from turnkey:relays', () => {
  it('deploys a relay and a credential service on every host, named per relay', () => {
    expect(
      containers()
        .map((c) => c.inputs.name)
        .sort(),
    ).toEqual(
      [
        'turnkey-prod-coturn',
        'turnkey-prod-service',
        'turnkey-us-east-prod-coturn',
        'turnkey-us-east-prod-service',
        'turnkey-ap-prod-coturn',
        'turnkey-ap-prod-service',
      ].sort(),
    );
  });

  it('talks to each host through its own Docker provider; the first through the stack’s docker:host', () => {
    const providers = registered.filter((r) => r.type === 'pulumi:providers:docker');
    expect(providers.map((p) => [p.name, p.inputs.host])).toEqual([
      ['turnkey-us-east-docker', 'ssh://deploy@us.turn.example.com'],
      ['turnkey-ap-docker', 'ssh://deploy@ap.turn.example.com'],
    ]);
    // Images are built on, and containers run on, their own host's engine.
    for (const [relay, host] of [
      ['turnkey-us-east', 'turnkey-us-east-docker'],
      ['turnkey-ap', 'turnkey-ap-docker'],
    ] as const)
      for (const child of ['coturn', 'service'])
        for (const type of [TYPES.container, TYPES.image])
          expect(
            registered.find((r) => r.type === type && r.name === `${relay}-${child}`)?.provider,
          ).toMatch(new RegExp(`::${host}::${host}-id$`));
    for (const child of ['turnkey-coturn', 'turnkey-service'])
      expect(registered.filter((r) => r.name === child).map((r) => r.provider)).toEqual([
        undefined,
        undefined,
      ]);
  });

  it('generates one TURN secret per generation and one API token, shared by every host', () => {
    expect(
      registered
        .filter((r) => r.type === TYPES.password)
        .map((p) => p.name)
        .sort(),
    ).toEqual(['turnkey-api-token', 'turnkey-turn-secret-gen1', 'turnkey-turn-secret-gen2']);
    for (const relay of RELAY_NAMES) {
      // Each host's service passes both on to its relay (RELAY_SECRETS_DIR).
      expect(upload(`${relay}-service`, '/run/secrets/turn-secret')).toBe(
        mockPassword('turnkey-turn-secret-gen2'),
      );
      expect(upload(`${relay}-service`, '/run/secrets/turn-secret-previous')).toBe(
        mockPassword('turnkey-turn-secret-gen1'),
      );
      expect(upload(`${relay}-service`, '/run/secrets/api-tokens')).toBe(
        mockPassword('turnkey-api-token'),
      );
    }
  });

  it('updates one host at a time: each host’s containers are registered only after the previous host’s are done', () => {
    const order = (name: string) =>
      registered.findIndex((r) => r.type === TYPES.container && r.name === name);
    for (let i = 1; i < RELAY_NAMES.length; i++) {
      const before = Math.max(
        order(`${RELAY_NAMES[i - 1]}-coturn`),
        order(`${RELAY_NAMES[i - 1]}-service`),
      );
      expect(order(`${RELAY_NAMES[i]}-coturn`)).toBeGreaterThan(before);
      expect(order(`${RELAY_NAMES[i]}-service`)).toBeGreaterThan(before);
    }
  });

  it('gives each host its own public address and external IP, and each service every relay', () => {
    expect(envs('turnkey-us-east-coturn')).toContain('EXTERNAL_IP=203.0.113.9/10.0.0.9');
    expect(envs('turnkey-coturn').join('\n')).not.toContain('EXTERNAL_IP');
    const relays = (name: string) =>
      JSON.parse((envs(name).find((e) => e.startsWith('TURN_RELAYS=')) ?? '=null').slice(12)) as {
        region: string;
        urls: string[];
        probeUrl?: string;
      }[];
    expect(relays('turnkey-us-east-service')).toEqual([
      {
        region: 'us-east',
        urls: [
          'turn:us.turn.example.com:3478?transport=udp',
          'turn:us.turn.example.com:3478?transport=tcp',
        ],
        probeUrl: 'turn:127.0.0.1:3478',
      },
      {
        region: 'eu-west',
        urls: [
          'turn:eu.turn.example.com:3478?transport=udp',
          'turn:eu.turn.example.com:3478?transport=tcp',
        ],
      },
      {
        region: 'ap',
        urls: ['turn:198.51.100.4:3478?transport=udp', 'turn:198.51.100.4:3478?transport=tcp'],
      },
    ]);
    expect(envs('turnkey-us-east-service')).toContain('TURN_DEFAULT_REGION=us-east');
    expect(envs('turnkey-service')).toContain('TURN_DEFAULT_REGION=eu-west');
    expect(envs('turnkey-service').join('\n')).not.toMatch(/TURN_URLS|TURN_PROBE_URL/);
  });

  it('exports iceServersUrls per host and the first host’s outputs', async () => {
    expect(await resolved(program.iceServersUrls)).toEqual([
      'http://127.0.0.1:8080/v1/ice-servers',
      'http://127.0.0.1:8080/v1/ice-servers',
      'http://127.0.0.1:8080/v1/ice-servers',
    ]);
    expect(await resolved(program.turnUris)).toEqual([
      'turn:eu.turn.example.com:3478?transport=udp',
      'turn:eu.turn.example.com:3478?transport=tcp',
    ]);
    expect(await pulumi.isSecret(program.apiToken)).toBe(true);
  });

  it('registers exactly what planFleet plans, host by host', () => {
    const fleet = planFleet(
      readFleetConfig({
        get: (k) => CONFIG[`turnkey:${k}` as keyof typeof CONFIG],
        has: () => false,
      }),
      {
        stack: 'prod',
        projectRoot: REPO_ROOT,
      },
    );
    expect(fleet.hosts.map((h) => h.name)).toEqual(RELAY_NAMES);
    for (const host of fleet.hosts)
      for (const c of host.plan.containers)
        expect(new Set(envs(`${host.name}-${c.role}`))).toEqual(
          new Set(Object.entries(c.env).map(([k, v]) => `${k}=${v}`)),
        );
  });
});
