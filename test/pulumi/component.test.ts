import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  planDeployment,
  readStackConfig,
  relayConfig,
  type StackConfig,
  stackRelayArgs,
  TurnkeyRelay,
  type TurnkeyRelayArgs,
  valuesSource,
} from '../../infra';
import { buildContext } from '../helpers/build-context';
import { REPO_ROOT } from '../helpers/stack';
import {
  installMocks,
  isSecretInput,
  mockImageId,
  mockPassword,
  ofType,
  plain,
  resolved,
  TYPES,
} from './mocks';

beforeAll(() => installMocks());

const stackConfig = (values: Record<string, string>, secretKeys: string[] = []): StackConfig =>
  readStackConfig(valuesSource(values, secretKeys));

type SecretValues = Partial<Record<Parameters<Parameters<typeof stackRelayArgs>[1]>[0], string>>;

/** Resource options each child got, by resource name (what the mock monitor does not see). */
const options = new Map<string, pulumi.CustomResourceOptions>();

/**
 * Builds a relay under a unique name from a stack config, as infra/program.ts does, with the
 * secret keys' values in `secrets`, and waits until all its resources are registered.
 */
async function deploy(name: string, config: StackConfig, secrets: SecretValues = {}) {
  const args = stackRelayArgs(config, (key) => {
    const value = secrets[key];
    if (value === undefined) throw new Error(`the test gives no value for ${key}`);
    return value;
  });
  const relay = new TurnkeyRelay(
    name,
    { ...args, stack: 'dev' },
    {
      transformations: [
        (a) => {
          options.set(a.name, a.opts);
          return undefined;
        },
      ],
    },
  );
  await Promise.all(Object.values(relay.containers).map((c) => resolved(c.id)));
  const containers = ofType(TYPES.container, name);
  const byRole = (role: string) => containers.find((c) => c.name === `${name}-${role}`);
  return {
    relay,
    containers,
    images: ofType(TYPES.image, name),
    passwords: ofType(TYPES.password, name),
    byRole,
  };
}

type Upload = { file: string; content: string; owner?: string; permissions: string };
const uploads = (c: { inputs: Record<string, unknown> } | undefined) =>
  plain<Upload[]>(c?.inputs.uploads ?? []);
const upload = (c: { inputs: Record<string, unknown> } | undefined, file: string) =>
  uploads(c).find((u) => u.file === file)?.content;
const envs = (c: { inputs: Record<string, unknown> } | undefined) =>
  (c?.inputs.envs ?? []) as string[];

describe('provider=coturn', () => {
  let d: Awaited<ReturnType<typeof deploy>>;
  beforeAll(async () => {
    d = await deploy('cot', stackConfig({ publicHost: 'turn.example.com' }));
  });

  it('creates a TURN secret, an API token, both images and both containers', () => {
    expect(d.passwords.map((p) => p.name).sort()).toEqual([
      'cot-api-token',
      'cot-turn-secret-gen1',
    ]);
    expect(d.images.map((i) => i.name).sort()).toEqual(['cot-coturn', 'cot-service']);
    expect(d.containers.map((c) => c.name).sort()).toEqual(['cot-coturn', 'cot-service']);
  });

  it('runs both containers on host networking from the images just built', () => {
    for (const role of ['coturn', 'service']) {
      expect(d.byRole(role)?.inputs.networkMode).toBe('host');
      expect(d.byRole(role)?.inputs.image).toBe(mockImageId(`cot-${role}`));
    }
  });

  it('gives the service the TURN secret as a file, and the relay the volume the service writes it to', () => {
    const secret = mockPassword('cot-turn-secret-gen1');
    expect(upload(d.byRole('service'), '/run/secrets/turn-secret')).toBe(secret);
    expect(upload(d.byRole('service'), '/run/secrets/api-tokens')).toBe(
      mockPassword('cot-api-token'),
    );
    expect(envs(d.byRole('service'))).toEqual(
      expect.arrayContaining([
        'TURN_SECRET_FILE=/run/secrets/turn-secret',
        'RELAY_SECRETS_DIR=/run/relay-secrets',
      ]),
    );
    // The relay's definition holds no secret: nothing uploaded, files named in the volume.
    expect(uploads(d.byRole('coturn'))).toEqual([]);
    expect(envs(d.byRole('coturn'))).toEqual(
      expect.arrayContaining([
        'RELAY_SECRETS_DIR=/run/relay-secrets',
        'TURN_SECRET_FILE=/run/relay-secrets/turn-secret',
        'TURN_SECRET_PREVIOUS_FILE=/run/relay-secrets/turn-secret-previous',
      ]),
    );
    const mounts = (role: string) => plain<unknown[]>(d.byRole(role)?.inputs.volumes);
    expect(mounts('coturn')).toEqual([
      { volumeName: 'cot-dev-relay-secrets', containerPath: '/run/relay-secrets', readOnly: true },
    ]);
    expect(mounts('service')).toEqual([
      { volumeName: 'cot-dev-relay-secrets', containerPath: '/run/relay-secrets', readOnly: false },
      // The revocations, on disk: they outlive a replaced service.
      {
        volumeName: 'cot-dev-revocations',
        containerPath: '/var/lib/turnkey/revocations',
        readOnly: false,
      },
    ]);
  });

  it('keeps the relay secrets volume in memory, the service’s to write and the relay’s group’s to read', () => {
    const volume = ofType(TYPES.volume, 'cot').find(
      (v) => v.inputs.name === 'cot-dev-relay-secrets',
    );
    expect(volume?.inputs).toEqual({
      name: 'cot-dev-relay-secrets',
      driver: 'local',
      driverOpts: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,mode=0750,uid=10001,gid=65534' },
    });
  });

  it('lets each container’s delete take its whole stop grace, a relay’s drain included', () => {
    expect(options.get('cot-coturn')?.customTimeouts).toEqual({ delete: '315s' });
    expect(options.get('cot-service')?.customTimeouts).toEqual({ delete: '315s' });
  });

  it('creates the service before the relay, which waits for the files it writes', () => {
    const after = options.get('cot-coturn')?.dependsOn as pulumi.Resource[];
    expect(after).toContain(d.relay.containers.service);
  });

  it('puts no secret in any env or command (docker inspect shows those)', () => {
    const secrets = [mockPassword('cot-turn-secret-gen1'), mockPassword('cot-api-token')];
    for (const c of d.containers) {
      const visible = JSON.stringify({
        envs: c.inputs.envs,
        command: c.inputs.command,
        entrypoints: c.inputs.entrypoints,
      });
      for (const s of secrets) expect(visible).not.toContain(s);
    }
  });

  it('passes the secret files to Docker as secret inputs', () => {
    expect(isSecretInput(d.byRole('service')?.inputs.uploads)).toBe(true);
    for (const c of d.containers) expect(isSecretInput(c.inputs.envs)).toBe(false);
  });

  it('keeps every secret a Pulumi secret (encrypted in state)', async () => {
    expect(Object.keys(d.relay.secrets).sort()).toEqual(['apiToken', 'turnSecret']);
    for (const s of Object.values(d.relay.secrets)) expect(await pulumi.isSecret(s)).toBe(true);
    expect(await pulumi.isSecret(d.relay.apiToken)).toBe(true);
  });

  it('secret files are readable by each image’s non-root user whoever owns them (the provider writes them as root)', () => {
    for (const c of d.containers)
      for (const u of uploads(c)) {
        expect(u.permissions).toBe('0444');
        expect(u).not.toHaveProperty('owner');
      }
  });

  it('sets restart, healthchecks, bounded logs and least privilege', () => {
    for (const c of d.containers) {
      expect(c.inputs.restart).toBe('unless-stopped');
      expect((c.inputs.healthcheck as { tests: string[] }).tests.length).toBeGreaterThan(1);
      expect(c.inputs.logOpts).toEqual({ 'max-size': '10m', 'max-file': '3' });
      expect((c.inputs.capabilities as { drops: string[] }).drops).toEqual(['ALL']);
      expect(c.inputs.wait).toBe(true);
    }
  });

  it('exports the endpoint and URIs browsers use', async () => {
    // No certificate: plain HTTP, so only on this host's loopback (see 'TLS' below).
    expect(await resolved(d.relay.iceServersUrl)).toBe('http://127.0.0.1:8080/v1/ice-servers');
    expect(await resolved(d.relay.provider)).toBe('coturn');
    expect(await resolved(d.relay.turnUris)).toEqual([
      'turn:turn.example.com:3478?transport=udp',
      'turn:turn.example.com:3478?transport=tcp',
    ]);
    expect(await resolved(d.relay.stunUris)).toEqual(['stun:turn.example.com:3478']);
    expect(envs(d.byRole('service'))).toContain(
      `TURN_URLS=${(await resolved(d.relay.turnUris)).join(',')}`,
    );
  });

  it('builds only from Dockerfiles and contexts that exist', () => {
    for (const image of d.images) {
      const build = image.inputs.build as { context: string; dockerfile: string };
      expect(statSync(build.context).isDirectory()).toBe(true);
      expect(existsSync(build.dockerfile)).toBe(true);
      expect(image.inputs.skipPush).toBe(true);
    }
  });
});

describe('the plain-data plan is what the program registers', () => {
  it('matches images and containers field by field', async () => {
    const config = stackConfig({
      publicHost: '203.0.113.7',
      secretGeneration: '3',
      externalIp: '203.0.113.7/10.0.0.4',
      coturnImage: 'mirror.example/coturn:4.18.0',
    });
    const d = await deploy('plan', config);
    const plan = d.relay.plan;
    expect(d.images).toHaveLength(plan.images.length);
    for (const image of plan.images) {
      const r = d.images.find((i) => i.name === `plan-${image.role}`);
      expect(r?.inputs).toMatchObject({
        imageName: image.imageName,
        build: {
          context: image.context,
          dockerfile: image.dockerfile,
          args: image.buildArgs,
          platform: image.platform,
        },
      });
    }
    expect(d.containers).toHaveLength(plan.containers.length);
    for (const c of plan.containers) {
      const r = d.byRole(c.role);
      expect(r?.inputs).toMatchObject({
        name: c.name,
        networkMode: c.networkMode,
        restart: c.restart,
        logDriver: c.logDriver,
        logOpts: c.logOptions,
        healthcheck: {
          tests: c.healthcheck.test,
          interval: c.healthcheck.interval,
          retries: c.healthcheck.retries,
        },
      });
      expect(new Set(envs(r))).toEqual(new Set(Object.entries(c.env).map(([k, v]) => `${k}=${v}`)));
      expect(uploads(r).map((u) => [u.file, u.permissions])).toEqual(
        c.files.map((f) => [f.path, f.mode]),
      );
      expect(r?.inputs).toMatchObject({
        stopSignal: c.stopSignal,
        stopTimeout: c.stopGraceSeconds,
        destroyGraceSeconds: c.stopGraceSeconds,
      });
      expect((r?.inputs.tmpfs ?? {}) as object).toEqual(c.tmpfs);
      expect(plain(r?.inputs.volumes ?? [])).toEqual(
        c.volumes.map((m) => ({
          volumeName: m.volume,
          containerPath: m.path,
          readOnly: m.readOnly,
        })),
      );
    }
    expect(ofType(TYPES.volume, 'plan').map((v) => v.inputs)).toEqual(
      plan.volumes.map((v) => ({ name: v.name, driver: 'local', driverOpts: v.driverOpts })),
    );
  });
});

describe('turnkey:acmeEmail', () => {
  it('deploys the service as the plan says: its state volume on disk, root only to bind port 80, the CA root as a file, no certificate secret', async () => {
    const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';
    const config = stackConfig({
      publicHost: 'turn.example.com',
      acmeEmail: 'ops@example.com',
      acmeCaCert: ca,
    });
    const d = await deploy('acm', config);
    const service = d.byRole('service');
    expect(service?.inputs.user).toBe('0:0');
    expect(plain(service?.inputs.capabilities)).toEqual({
      drops: ['ALL'],
      adds: ['NET_BIND_SERVICE', 'SETUID', 'SETGID'],
    });
    expect(envs(service)).toEqual(
      expect.arrayContaining([
        'ACME_EMAIL=ops@example.com',
        'ACME_DOMAINS=turn.example.com',
        'ACME_STATE_DIR=/var/lib/turnkey/acme',
        'ACME_CA_FILE=/run/secrets/acme-ca.pem',
      ]),
    );
    expect(envs(service).some((e) => e.startsWith('TLS_CERT_FILE='))).toBe(false);
    expect(upload(service, '/run/secrets/acme-ca.pem')).toBe(ca);
    expect(d.byRole('coturn')?.inputs.image).toBeDefined();
    expect(d.byRole('coturn')?.inputs.user).toBeUndefined();
    const volumes = ofType(TYPES.volume, 'acm').map((v) => v.inputs);
    expect(volumes).toContainEqual({ name: 'acm-dev-acme-state', driver: 'local' });
    expect(plain(service?.inputs.volumes ?? [])).toContainEqual({
      volumeName: 'acm-dev-acme-state',
      containerPath: '/var/lib/turnkey/acme',
      readOnly: false,
    });
  });

  it('refuses tls and acme together in the component', () => {
    expect(
      () =>
        new TurnkeyRelay('both', {
          publicHost: 'turn.example.com',
          tls: { cert: 'c', key: 'k' },
          acme: { email: 'ops@example.com' },
        }),
    ).toThrow('relay both: tls and acme are both given: keep one certificate source');
  });
});

describe('provider=metered', () => {
  it('deploys the service only, with the Metered key as a secret file and no TURN secret', async () => {
    const config = stackConfig(
      {
        provider: 'metered',
        publicHost: 'creds.example.com',
        meteredApiUrl: 'https://app.metered.live',
      },
      ['meteredApiKey'],
    );
    const d = await deploy('met', config, { meteredApiKey: 'metered-secret-key' });
    expect(d.images.map((i) => i.name)).toEqual(['met-service']);
    expect(d.containers.map((c) => c.name)).toEqual(['met-service']);
    expect(d.passwords.map((p) => p.name)).toEqual(['met-api-token']);
    const svc = d.byRole('service');
    expect(envs(svc)).toEqual(
      expect.arrayContaining([
        'TURN_PROVIDER=metered',
        'TURN_API_URL=https://app.metered.live',
        'TURN_API_KEY_FILE=/run/secrets/metered-api-key',
      ]),
    );
    // The relay's and the stack's name (turnkey-<stack> for the stack's own relay).
    expect(envs(svc)).toContain('TURN_LABEL=met-dev');
    expect(envs(svc).join('\n')).not.toContain('metered-secret-key');
    expect(envs(svc).join('\n')).not.toMatch(/TURN_SECRET|TURN_CREDENTIAL_API_KEY|TURN_REGION/);
    expect(upload(svc, '/run/secrets/metered-api-key')).toBe('metered-secret-key');
    expect(await pulumi.isSecret(d.relay.secrets.meteredApiKey as pulumi.Output<string>)).toBe(
      true,
    );
    expect(await resolved(d.relay.turnUris)).toEqual([]);
    expect(await resolved(d.relay.provider)).toBe('metered');
  });

  it('with a credential apiKey: hands it over as its own secret file, with the region, and no label or secret key', async () => {
    const config = stackConfig(
      {
        provider: 'metered',
        publicHost: 'creds.example.com',
        meteredApiUrl: 'https://app.metered.live',
        meteredRegion: 'europe',
      },
      ['meteredCredentialApiKey'],
    );
    const d = await deploy('metc', config, { meteredCredentialApiKey: 'credential-api-key' });
    const svc = d.byRole('service');
    expect(envs(svc)).toEqual(
      expect.arrayContaining([
        'TURN_PROVIDER=metered',
        'TURN_CREDENTIAL_API_KEY_FILE=/run/secrets/metered-credential-api-key',
        'TURN_REGION=europe',
      ]),
    );
    expect(envs(svc).filter((e) => /^(TURN_API_KEY|TURN_LABEL)/.test(e))).toEqual([]);
    expect(envs(svc).join('\n')).not.toContain('=credential-api-key');
    expect(upload(svc, '/run/secrets/metered-credential-api-key')).toBe('credential-api-key');
    expect(uploads(svc).map((u) => u.file)).not.toContain('/run/secrets/metered-api-key');
    expect(
      await pulumi.isSecret(d.relay.secrets.meteredCredentialApiKey as pulumi.Output<string>),
    ).toBe(true);
  });

  it('needs exactly one Metered key, by type (npm test type-checks this file)', () => {
    const base = { publicHost: 'x.example.com', meteredApiUrl: 'https://app.metered.live' };
    // @ts-expect-error: provider metered without a key
    const none: TurnkeyRelayArgs = { ...base, provider: 'metered' };
    const twoKeys = { meteredApiKey: 'k', meteredCredentialApiKey: 'c' };
    // @ts-expect-error: both kinds of key at once
    const both: TurnkeyRelayArgs = { ...base, provider: 'metered', ...twoKeys };
    // @ts-expect-error: a Metered key on another provider
    const stray: TurnkeyRelayArgs = { publicHost: 'x.example.com', meteredApiKey: 'k' };
    // @ts-expect-error: TLS needs the key with the certificate
    const halfTls: TurnkeyRelayArgs = { publicHost: 'x.example.com', tls: { cert: 'CERT' } };
    expect([none, both, stray, halfTls]).toHaveLength(4);
  });
});

describe('TurnkeyRelayArgs defaults', () => {
  it('are the stack keys’ defaults: only publicHost given, the same config as readStackConfig', () => {
    expect(relayConfig({ publicHost: 'turn.example.com' })).toEqual(
      stackConfig({ publicHost: 'turn.example.com' }),
    );
    expect(relayConfig({ publicHost: '127.0.0.1' }).realm).toBe('turnkey');
  });

  it('turn every stack config back into itself (what infra/program.ts deploys is what was read)', () => {
    const secret = () => 'SECRET';
    for (const [values, secretKeys] of [
      [
        { publicHost: 'turn.example.com', turnPort: '3479', hashUserIds: 'true', maxBps: '9000' },
        [],
      ],
      [
        { publicHost: '203.0.113.7', externalIp: '203.0.113.7/10.0.0.4', secretGeneration: '2' },
        ['tlsCert', 'tlsKey'],
      ],
      [{ publicHost: 'x.example.com', provider: 'stun', stunUrls: 'stun:stun.example.com' }, []],
      [
        {
          publicHost: 'x.example.com',
          provider: 'metered',
          meteredApiUrl: 'https://a.metered.live',
          meteredRegion: 'europe',
        },
        ['meteredApiKey'],
      ],
      [
        {
          publicHost: 'x.example.com',
          provider: 'metered',
          meteredApiUrl: 'https://a.metered.live',
        },
        ['meteredCredentialApiKey'],
      ],
    ] as const) {
      const config = stackConfig(values, [...secretKeys]);
      expect(relayConfig(stackRelayArgs(config, secret))).toEqual(config);
    }
  });
});

describe('provider=stun', () => {
  it('deploys the service only, with the configured STUN servers and no TURN secret', async () => {
    const d = await deploy(
      'stn',
      stackConfig({
        provider: 'stun',
        publicHost: 'creds.example.com',
        stunUrls: 'stun:stun.example.com:3478',
      }),
    );
    expect(d.containers.map((c) => c.name)).toEqual(['stn-service']);
    expect(d.images.map((i) => i.name)).toEqual(['stn-service']);
    expect(d.passwords.map((p) => p.name)).toEqual(['stn-api-token']);
    expect(envs(d.byRole('service'))).toEqual(
      expect.arrayContaining(['TURN_PROVIDER=stun', 'STUN_URLS=stun:stun.example.com:3478']),
    );
    expect(await resolved(d.relay.stunUris)).toEqual(['stun:stun.example.com:3478']);
  });
});

describe('secret rotation', () => {
  it('after bumping the generation, the service gets the new and previous secrets, the relay nothing new', async () => {
    const d = await deploy(
      'rot',
      stackConfig({ publicHost: 'turn.example.com', secretGeneration: '2' }),
    );
    const gen2 = mockPassword('rot-turn-secret-gen2');
    const gen1 = mockPassword('rot-turn-secret-gen1');
    expect(d.passwords.map((p) => p.name).sort()).toEqual([
      'rot-api-token',
      'rot-turn-secret-gen1',
      'rot-turn-secret-gen2',
    ]);
    // The service signs with gen2 and passes both on to the relay (RELAY_SECRETS_DIR).
    expect(upload(d.byRole('service'), '/run/secrets/turn-secret')).toBe(gen2);
    expect(upload(d.byRole('service'), '/run/secrets/turn-secret-previous')).toBe(gen1);
    expect(envs(d.byRole('service'))).toContain(
      'TURN_SECRET_PREVIOUS_FILE=/run/secrets/turn-secret-previous',
    );
    expect(uploads(d.byRole('coturn'))).toEqual([]);
  });
});

describe('a rotation or a new certificate leaves the relay container as it is', () => {
  /** A container's inputs with the component's name taken out (two deployments, one shape). */
  const inputs = (d: Awaited<ReturnType<typeof deploy>>, role: string, name: string) =>
    JSON.parse(
      JSON.stringify(d.byRole(role)?.inputs)
        // The mock's image id is made from the image's name; the image itself is compared below.
        .replaceAll(mockImageId(`${name}-${role}`), '<image>')
        .replaceAll(name, '<relay>'),
    );
  const image = (d: Awaited<ReturnType<typeof deploy>>, name: string) =>
    JSON.parse(
      JSON.stringify(d.images.find((i) => i.name === `${name}-coturn`)?.inputs).replaceAll(
        name,
        '<relay>',
      ),
    );
  const tls = (generation: string) =>
    stackConfig({ publicHost: 'turn.example.com', secretGeneration: generation }, [
      'tlsCert',
      'tlsKey',
    ]);

  it('the relay’s inputs are identical, so pulumi up replaces only the service', async () => {
    const before = await deploy('lva', tls('1'), { tlsCert: 'CERT A', tlsKey: 'KEY A' });
    const rotated = await deploy('lvb', tls('2'), { tlsCert: 'CERT A', tlsKey: 'KEY A' });
    const renewed = await deploy('lvc', tls('1'), { tlsCert: 'CERT B', tlsKey: 'KEY B' });
    const relay = inputs(before, 'coturn', 'lva');
    expect(inputs(rotated, 'coturn', 'lvb')).toEqual(relay);
    expect(inputs(renewed, 'coturn', 'lvc')).toEqual(relay);
    expect(image(rotated, 'lvb')).toEqual(image(before, 'lva'));
    expect(image(renewed, 'lvc')).toEqual(image(before, 'lva'));
    // Nothing secret in them at all: no upload, no secret-wrapped input.
    expect(JSON.stringify(relay)).not.toContain(pulumi.runtime.specialSecretSig);
    // The service carries the change.
    expect(inputs(rotated, 'service', 'lvb')).not.toEqual(inputs(before, 'service', 'lva'));
    expect(upload(renewed.byRole('service'), '/run/secrets/tls-cert.pem')).toBe('CERT B');
  });
});

describe('TLS', () => {
  it('adds turns: and hands the relay the certificate and key through the service', async () => {
    const config = stackConfig({ publicHost: 'turn.example.com', tlsPort: '443' }, [
      'tlsCert',
      'tlsKey',
    ]);
    const d = await deploy('tls', config, { tlsCert: 'CERT PEM', tlsKey: 'KEY PEM' });
    expect(await resolved(d.relay.turnUris)).toContain('turns:turn.example.com:443?transport=tcp');
    expect(upload(d.byRole('service'), '/run/secrets/tls-key.pem')).toBe('KEY PEM');
    expect(envs(d.byRole('coturn'))).toEqual(
      expect.arrayContaining([
        'TURN_TLS_PORT=443',
        'TURN_TLS_CERT_FILE=/run/relay-secrets/tls-cert.pem',
        'TURN_TLS_KEY_FILE=/run/relay-secrets/tls-key.pem',
      ]),
    );
    expect(uploads(d.byRole('coturn'))).toEqual([]);
    expect(await pulumi.isSecret(d.relay.secrets.tlsKey as pulumi.Output<string>)).toBe(true);
  });

  it('serves the API over HTTPS with the same certificate, for every provider', async () => {
    for (const [name, values, secretKeys] of [
      ['tlscot', {}, []],
      [
        'tlsmet',
        { provider: 'metered', meteredApiUrl: 'https://app.metered.live' },
        ['meteredApiKey'],
      ],
    ] as const) {
      const config = stackConfig({ publicHost: 'turn.example.com', ...values }, [
        'tlsCert',
        'tlsKey',
        ...secretKeys,
      ]);
      const d = await deploy(name, config, {
        tlsCert: 'CERT PEM',
        tlsKey: 'KEY PEM',
        ...(secretKeys.length ? { meteredApiKey: 'METERED KEY' } : {}),
      });
      const service = d.byRole('service');
      expect(await resolved(d.relay.iceServersUrl)).toBe(
        'https://turn.example.com:8080/v1/ice-servers',
      );
      expect(upload(service, '/run/secrets/tls-cert.pem')).toBe('CERT PEM');
      expect(upload(service, '/run/secrets/tls-key.pem')).toBe('KEY PEM');
      expect(uploads(service).find((u) => u.file === '/run/secrets/tls-key.pem')).toMatchObject({
        permissions: '0444',
      });
      expect(envs(service)).toEqual(
        expect.arrayContaining([
          'TLS_CERT_FILE=/run/secrets/tls-cert.pem',
          'TLS_KEY_FILE=/run/secrets/tls-key.pem',
          'HOST=::',
        ]),
      );
      expect(envs(service).join('\n')).not.toContain('PEM');
    }
  });
});

describe('turnkey:listeningIps', () => {
  it('binds Coturn (listening and relay) and the service there, and probes them there', async () => {
    const d = await deploy(
      'lip',
      stackConfig({ publicHost: '127.0.0.1', listeningIps: '127.0.0.1' }),
    );
    expect(envs(d.byRole('coturn'))).toEqual(
      expect.arrayContaining(['TURN_LISTENING_IPS=127.0.0.1', 'TURN_RELAY_IPS=127.0.0.1']),
    );
    expect(envs(d.byRole('service'))).toEqual(
      expect.arrayContaining(['HOST=127.0.0.1', 'TURN_PROBE_URL=turn:127.0.0.1:3478']),
    );
  });

  it('points both healthchecks at the bound address, where the listeners are', async () => {
    const d = await deploy(
      'lip6',
      stackConfig({ publicHost: 'turn.example.com', listeningIps: '203.0.113.7' }, [
        'tlsCert',
        'tlsKey',
      ]),
      { tlsCert: 'CERT PEM', tlsKey: 'KEY PEM' },
    );
    const tests = (role: string) =>
      String((d.byRole(role)?.inputs.healthcheck as { tests?: string[] } | undefined)?.tests);
    expect(tests('coturn')).toContain('turnutils_stunclient -p 3478 203.0.113.7');
    expect(tests('service')).toContain('https://203.0.113.7:8080/healthz');
  });

  it('leaves Coturn on all interfaces by default, and the service too once it has TLS', async () => {
    const d = await deploy('all', stackConfig({ publicHost: 'turn.example.com' }));
    expect(envs(d.byRole('coturn')).join('\n')).not.toMatch(/TURN_LISTENING_IPS|TURN_RELAY_IPS/);
    expect(envs(d.byRole('service'))).toContain('HOST=127.0.0.1');
    const tls = await deploy(
      'alltls',
      stackConfig({ publicHost: 'turn.example.com' }, ['tlsCert', 'tlsKey']),
      { tlsCert: 'CERT PEM', tlsKey: 'KEY PEM' },
    );
    expect(envs(tls.byRole('service'))).toContain('HOST=::');
  });
});

describe('what a real pulumi up does with the images and containers', () => {
  let d: Awaited<ReturnType<typeof deploy>>;
  beforeAll(async () => {
    d = await deploy('real', stackConfig({ publicHost: 'turn.example.com' }));
  });
  const build = (role: string) =>
    d.images.find((i) => i.name === `real-${role}`)?.inputs.build as {
      context: string;
      dockerfile: string;
      platform?: string;
    };

  it('builds for the Docker host’s platform (linux/amd64 unless turnkey:platform says otherwise), never the laptop’s', async () => {
    for (const role of ['coturn', 'service']) expect(build(role).platform).toBe('linux/amd64');
    const arm = await deploy(
      'arm',
      stackConfig({ publicHost: 'x.example.com', platform: 'linux/arm64' }),
    );
    for (const i of arm.images)
      expect((i.inputs.build as { platform: string }).platform).toBe('linux/arm64');
  });

  it('stops each container with SIGTERM and a grace beyond the service’s 10 s drain, on replace, destroy and docker stop', () => {
    for (const c of d.containers) {
      expect(c.inputs.destroyGraceSeconds).toBeGreaterThan(10);
      expect(c.inputs.stopTimeout).toBe(c.inputs.destroyGraceSeconds);
    }
  });

  it('replaces a container (the old one first) when its healthcheck or tmpfs changes, or its health wait failed', () => {
    for (const role of ['coturn', 'service']) {
      const opts = options.get(`real-${role}`);
      expect(opts?.replaceOnChanges).toEqual(
        expect.arrayContaining(['healthcheck', 'tmpfs', '#initerror']),
      );
      expect(opts?.deleteBeforeReplace).toBe(true);
    }
  });

  it('gives each image only what it needs: the relay coturn/ alone, the service its bundle alone', () => {
    const files = (role: string) => buildContext(build(role).context, build(role).dockerfile).files;
    expect(files('coturn')).toEqual(['Dockerfile.coturn', 'entrypoint.sh', 'turnserver.conf']);
    expect(files('service')).toEqual(['dist/bundle/main.js', 'service/Dockerfile']);
  });

  it('records build paths relative to the program’s directory, so another checkout path changes no input', () => {
    for (const role of ['coturn', 'service']) {
      expect(isAbsolute(build(role).context)).toBe(false);
      expect(isAbsolute(build(role).dockerfile)).toBe(false);
    }
    expect(resolve(build('coturn').context)).toBe(join(REPO_ROOT, 'coturn'));
    expect(resolve(build('service').dockerfile)).toBe(join(REPO_ROOT, 'service/Dockerfile'));
  });
});

describe('names on a shared Docker host', () => {
  it('two relays in one stack, and one relay name in two stacks, never share a container name or image tag', async () => {
    const config = stackConfig({ publicHost: 'turn.example.com' });
    const eu = await deploy('eu', config);
    const us = await deploy('us', config);
    const names = (x: typeof eu) => x.containers.map((c) => c.inputs.name as string);
    const tags = (x: typeof eu) => x.images.map((i) => i.inputs.imageName as string);
    expect(names(eu).sort()).toEqual(['eu-dev-coturn', 'eu-dev-service']);
    expect(tags(eu).sort()).toEqual(['eu-coturn:dev', 'eu-service:dev']);
    expect(new Set([...names(eu), ...names(us)]).size).toBe(4);
    expect(new Set([...tags(eu), ...tags(us)]).size).toBe(4);
    const euProd = planDeployment(config, { stack: 'prod', projectRoot: REPO_ROOT, name: 'eu' });
    expect(euProd.containers.map((c) => c.name)).toEqual(['eu-prod-service', 'eu-prod-coturn']);
    expect(euProd.images.map((i) => i.imageName)).toEqual(['eu-coturn:prod', 'eu-service:prod']);
  });

  it('refuses a name Docker cannot use for an image, saying what it may contain', () => {
    expect(
      () => new TurnkeyRelay('Relay EU', { publicHost: 'x.example.com', stack: 'dev' }),
    ).toThrow(/use lowercase letters, digits and '-' .*got "Relay EU"/);
  });
});
