import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RELAY_DEFAULTS, RELAY_SECRETS_DIR } from '../../contract';
import {
  type ContainerPlan,
  planDeployment,
  readStackConfig,
  type SecretName,
  valuesSource,
} from '../../infra';
import { loadConfig } from '../../service/config';
import { createProvider } from '../../service/providers/create';
import type { TurnProvider } from '../../service/providers/types';
import { publishRelaySecrets } from '../../service/relay-secrets';
import { type FakeMetered, startFakeMetered } from '../helpers/fake-metered';
import { REPO_ROOT } from '../helpers/stack';
import { makeTestPki, type TestPki } from '../lab/pki';

/**
 * The plan's containers as their programs read them, without Docker: each container's env
 * from planDeployment, its secret files written to a temporary directory (the `_FILE` paths
 * rewritten to them), read by the service's own config loader and by coturn/entrypoint.sh
 * (with a stub turnserver that prints the config it was given). A name, path or format that
 * the plan and a container disagree on fails here, not first in the end-to-end suite.
 */

const SECRETS: Record<SecretName, string> = {
  turnSecret: 'relay-secret-0123456789abcdef0123456789',
  previousTurnSecret: 'previous-secret-0123456789abcdef01234',
  apiToken: 'api-token-0123456789abcdef0123456789abcdef',
  meteredApiKey: 'metered-secret-key-from-the-stack',
  meteredCredentialApiKey: 'metered-credential-api-key-from-the-stack',
  tlsCert: '',
  tlsKey: '',
  acmeCaCert: '',
  fleetCaCert: '',
};

let dir: string;
let n = 0;
let pki: TestPki;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'turnkey-roundtrip-'));
  // A certificate the service's loader accepts (it parses the chain and matches the key).
  pki = makeTestPki(join(dir, 'pki'), { ips: ['203.0.113.7'], names: ['turn.example.com'] });
  SECRETS.tlsCert = pki.certPem;
  SECRETS.tlsKey = pki.keyPem;
  SECRETS.acmeCaCert = pki.caPem;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function plan(values: Record<string, string>, secretKeys: string[] = []) {
  const config = readStackConfig(
    valuesSource({ publicHost: 'turn.example.com', ...values }, secretKeys),
  );
  return planDeployment(config, { stack: 'prod', projectRoot: REPO_ROOT, name: 'relay' });
}

const container = (p: ReturnType<typeof plan>, role: 'coturn' | 'service') => {
  const c = p.containers.find((x) => x.role === role);
  if (!c) throw new Error(`the plan has no ${role} container`);
  return c;
};

/**
 * The container's env with its secret files on disk: each planned file written under a fresh
 * directory, and every variable naming a planned path rewritten to it. A `_FILE` variable that
 * names no planned file is an error: the container would fail to start.
 */
function onDisk(
  c: ContainerPlan,
  extra: Record<string, string> = {},
  mounted: Record<string, string> = {},
): Record<string, string> {
  const root = join(dir, `${c.role}-${n++}`);
  mkdirSync(root);
  const moved = new Map<string, string>();
  for (const f of c.files) {
    const path = join(root, basename(f.path));
    writeFileSync(path, `${SECRETS[f.secret]}\n`, { mode: 0o400 });
    moved.set(f.path, path);
  }
  // A file in a volume the plan mounts: there, if something wrote it (`mounted`: the
  // container path of each volume, and the directory standing in for it).
  const inVolume = (value: string) => {
    for (const m of c.volumes) {
      const host = mounted[m.path];
      if (host && value.startsWith(`${m.path}/`)) {
        const path = join(host, value.slice(m.path.length + 1));
        if (existsSync(path)) return path;
      }
    }
    return undefined;
  };
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...c.env, ...extra })) {
    const path = moved.get(value) ?? inVolume(value);
    if (name.endsWith('_FILE') && path === undefined)
      throw new Error(`${name}=${value} names no file the plan writes`);
    env[name] = path ?? value;
  }
  return env;
}

const hmacSha1 = (secret: string, text: string) =>
  createHmac('sha1', secret).update(text).digest('base64');

describe('the service container: the plan’s env is what the service’s config loader accepts', () => {
  let provider: TurnProvider | undefined;
  afterEach(async () => {
    await provider?.close();
    provider = undefined;
  });

  async function serviceFrom(p: ReturnType<typeof plan>, extra: Record<string, string> = {}) {
    const config = loadConfig(onDisk(container(p, 'service'), extra));
    provider = createProvider(config.providerConfig);
    return { config, provider };
  }

  it('coturn: hands out the plan’s URIs with credentials signed by the relay’s secret', async () => {
    const p = plan({ credentialTtl: '3600', servicePort: '8443' });
    const { config, provider } = await serviceFrom(p);
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8443,
      apiTokens: [SECRETS.apiToken],
      providerConfig: {
        provider: 'coturn',
        credentialTtl: 3600,
        probeUrl: 'turn:127.0.0.1:3478',
        hashUserIds: false,
      },
    });
    const { iceServers, ttl } = await provider.getIceServers('alice');
    expect(ttl).toBe(3600);
    expect(iceServers).toEqual([
      { urls: p.outputs.stunUris },
      { urls: p.outputs.turnUris, username: expect.any(String), credential: expect.any(String) },
    ]);
    const turn = iceServers[1] as { username: string; credential: string };
    expect(turn.username).toMatch(/^\d+:alice$/);
    // What Coturn's use-auth-secret computes with the secret the relay container gets.
    expect(turn.credential).toBe(hmacSha1(SECRETS.turnSecret, turn.username));
  });

  it('coturn with TLS: serves HTTPS with the relay’s certificate and hands out turns:', async () => {
    const p = plan({ tlsPort: '443' }, ['tlsCert', 'tlsKey']);
    const { config, provider } = await serviceFrom(p);
    expect(config.tls).toMatchObject({
      cert: SECRETS.tlsCert.trim(),
      key: SECRETS.tlsKey.trim(),
    });
    expect(config.host).toBe('::');
    const { iceServers } = await provider.getIceServers('alice');
    expect(iceServers.at(-1)?.urls).toContain('turns:turn.example.com:443?transport=tcp');
    expect(iceServers.at(-1)?.urls).toEqual(p.outputs.turnUris);
  });

  it('coturn with ACME: orders for publicHost, keeps its state in the planned volume, trusts the stack’s CA', async () => {
    const p = plan(
      {
        acmeEmail: 'ops@example.com',
        acmeDirectoryUrl: 'https://ca.example.com/dir',
        acmeCaCert: SECRETS.acmeCaCert,
      },
      [],
    );
    const { config } = await serviceFrom(p);
    const c = container(p, 'service');
    expect(config.tls).toBeUndefined();
    expect(config.acme).toEqual({
      email: 'ops@example.com',
      directoryUrl: 'https://ca.example.com/dir',
      domains: ['turn.example.com'],
      httpPort: 80,
      stateDir: c.volumes.find(
        (m) => m.volume === p.volumes.find((v) => v.purpose === 'acme-state')?.name,
      )?.path,
      caPem: SECRETS.acmeCaCert.trim(),
    });
    // HTTPS once the certificate is in: bound where Coturn listens, as with a supplied one.
    expect(config.host).toBe('::');
    expect(p.outputs.turnUris).toContain('turns:turn.example.com:5349?transport=tcp');
    expect(p.secrets).not.toContain('tlsCert');
  });

  it('coturn with hashed user ids: the username carries the keyed hash, still signed by the relay’s secret', async () => {
    const { config, provider } = await serviceFrom(plan({ hashUserIds: 'true' }));
    expect(config.providerConfig).toMatchObject({ hashUserIds: true });
    const turn = (await provider.getIceServers('alice')).iceServers.at(-1) as {
      username: string;
      credential: string;
    };
    // docs/api.md: its first 16 bytes of HMAC-SHA256(TURN secret, "turnkey user id\0" + id), base64url
    const hashed = createHmac('sha256', SECRETS.turnSecret)
      .update('turnkey user id\0alice')
      .digest()
      .subarray(0, 16)
      .toString('base64url');
    expect(turn.username).toMatch(new RegExp(`^\\d+:${hashed}$`));
    expect(turn.credential).toBe(hmacSha1(SECRETS.turnSecret, turn.username));
  });

  it('stun: hands out the stack’s STUN servers', async () => {
    const p = plan({ provider: 'stun', stunUrls: 'stun:stun.example.com:3478' });
    const { config, provider } = await serviceFrom(p);
    expect(config.apiTokens).toEqual([SECRETS.apiToken]);
    expect((await provider.getIceServers('alice')).iceServers).toEqual([
      { urls: ['stun:stun.example.com:3478'] },
    ]);
  });

  describe('metered (against a local fake of Metered’s API)', () => {
    let fake: FakeMetered;
    beforeAll(async () => {
      fake = await startFakeMetered({ secretKey: SECRETS.meteredApiKey });
    });
    afterAll(() => fake.close());
    const metered = { provider: 'metered', meteredRegion: 'europe' };

    it('with the Secret Key: mints with the stack’s key, labelled with the relay and stack', async () => {
      const p = plan({ ...metered, meteredApiUrl: fake.url }, ['meteredApiKey']);
      const { config, provider } = await serviceFrom(p);
      expect(config.providerConfig).toMatchObject({
        provider: 'metered',
        apiUrl: fake.url,
        secretKey: SECRETS.meteredApiKey,
        label: 'relay-prod',
        region: 'europe',
      });
      const mints = fake.mints;
      const { iceServers } = await provider.getIceServers('alice');
      expect(fake.mints).toBe(mints + 1);
      expect(fake.mintBodies.at(-1)).toMatchObject({
        label: 'relay-prod',
        expiryInSeconds: 86_400,
      });
      expect(fake.listQueries.at(-1)?.get('region')).toBe('europe');
      expect(iceServers.some((s) => s.credential !== undefined)).toBe(true);
    });

    it('with a credential’s API Key: lists that credential’s servers, mints nothing', async () => {
      const credential = fake.addCredential();
      SECRETS.meteredCredentialApiKey = credential.apiKey;
      const p = plan({ ...metered, meteredApiUrl: fake.url }, ['meteredCredentialApiKey']);
      const { config, provider } = await serviceFrom(p);
      expect(config.providerConfig).toMatchObject({ credentialApiKey: credential.apiKey });
      const mints = fake.mints;
      const { iceServers } = await provider.getIceServers('alice');
      expect(fake.mints).toBe(mints);
      expect(iceServers.find((s) => s.username)?.username).toBe(credential.username);
    });
  });
});

describe('the relay container: the plan’s env is what coturn/entrypoint.sh writes into turnserver’s config', () => {
  /** A turnserver that prints the config it is started with (and, on -h, its options). */
  let stub: string;
  beforeAll(() => {
    stub = join(dir, 'turnserver-stub');
    writeFileSync(
      stub,
      [
        '#!/bin/sh',
        // The entrypoint probes `turnserver -h` for the Prometheus exporter's options.
        'if [ "$1" = -h ]; then [ -z "$STUB_PROMETHEUS" ] || echo "--prometheus-address <ip>"; exit 0; fi',
        '[ "$1" = -c ] || { echo "stub: expected -c <file>, got $*" >&2; exit 2; }',
        'cat "$2"',
        '',
      ].join('\n'),
    );
    chmodSync(stub, 0o755);
    // An sqlite3 that keeps the SQL the entrypoint feeds Coturn's database (npm test needs
    // nothing but Node; test/coturn runs the real one).
    mkdirSync(join(dir, 'bin'), { recursive: true });
    writeFileSync(
      join(dir, 'bin/sqlite3'),
      '#!/bin/sh\n[ "$1" = -bail ] || exit 2\ncat >"$2.sql"\n',
    );
    chmodSync(join(dir, 'bin/sqlite3'), 0o755);
  });

  /**
   * Runs the entrypoint with exactly `env` (plus PATH and the stubs); returns the config lines
   * it wrote, then a `turn_secret=<value>` line per secret it put in Coturn's database.
   */
  function relayConfig(env: Record<string, string>): string[] {
    const r = spawnSync('sh', [join(REPO_ROOT, 'coturn/entrypoint.sh')], {
      env: {
        PATH: `${join(dir, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        TURN_BASE_CONFIG: join(REPO_ROOT, 'coturn/turnserver.conf'),
        TURNSERVER: stub,
        // The stub exits at once; its watcher notices within this.
        TURNKEY_WATCH_INTERVAL: '0.05',
        ...env,
      },
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`entrypoint exited ${r.status}: ${r.stderr}`);
    const written = r.stdout.split('# --- written by the entrypoint ---')[1];
    if (written === undefined) throw new Error(`no entrypoint section in:\n${r.stdout}`);
    const lines = written.split('\n').filter((l) => l !== '');
    const db = lines.find((l) => l.startsWith('userdb='))?.slice('userdb='.length);
    const sql = db === undefined ? '' : readFileSync(`${db}.sql`, 'utf8');
    const secrets = [
      ...sql.matchAll(
        /INSERT OR REPLACE INTO turn_secret \(realm, value\) VALUES \('[^']*', '([^']*)'\);/g,
      ),
    ];
    return [...lines, ...secrets.map((m) => `turn_secret=${m[1]}`)];
  }

  /**
   * The relay's env with its files where the plan puts them: the service, started from its
   * own env, writes the relay's secret files into the shared volume (here a directory).
   */
  const relayEnv = (p: ReturnType<typeof plan>, extra: Record<string, string> = {}) => {
    const volume = join(dir, `relay-secrets-${n++}`);
    mkdirSync(volume);
    const service = loadConfig(
      onDisk(container(p, 'service'), { RELAY_SECRETS_DIR: volume }),
    ).relaySecrets;
    if (!service) throw new Error('the service of a coturn plan writes no relay secrets');
    publishRelaySecrets(service);
    const c = container(p, 'coturn');
    // The plan's tmpfs for the private config, here a directory of this run.
    return onDisk(
      c,
      { TURN_RUNTIME_DIR: join(dir, `run-${n++}`), ...extra },
      { [RELAY_SECRETS_DIR]: volume },
    );
  };

  it('carries the plan’s secret, realm, ports, quotas, external IP and addresses', () => {
    const p = plan({
      realm: 'relay.example.com',
      turnPort: '3479',
      relayPorts: '40000-40100',
      userQuota: '30',
      totalQuota: '5000',
      maxBps: '1250000',
      externalIp: '203.0.113.7/10.0.0.5',
      listeningIps: '10.0.0.5',
    });
    const lines = relayConfig(relayEnv(p));
    expect(lines).toEqual(
      expect.arrayContaining([
        'realm=relay.example.com',
        'listening-port=3479',
        'min-port=40000',
        'max-port=40100',
        `turn_secret=${SECRETS.turnSecret}`,
        'user-quota=30',
        'total-quota=5000',
        'max-bps=1250000',
        'no-tls',
        'external-ip=203.0.113.7/10.0.0.5',
        'listening-ip=10.0.0.5',
        'relay-ip=10.0.0.5',
      ]),
    );
    expect(lines.filter((l) => l.startsWith('turn_secret='))).toHaveLength(1);
  });

  it('the secret the service signs with is the one the relay checks', async () => {
    const p = plan({});
    const relaySecret = relayConfig(relayEnv(p))
      .find((l) => l.startsWith('turn_secret='))
      ?.slice('turn_secret='.length) as string;
    const provider = createProvider(loadConfig(onDisk(container(p, 'service'))).providerConfig);
    const turn = (await provider.getIceServers('bob')).iceServers.at(-1) as {
      username: string;
      credential: string;
    };
    expect(turn.credential).toBe(hmacSha1(relaySecret, turn.username));
  });

  it('with TLS and a rotated secret: turns: on the plan’s port with its files, both secrets accepted', () => {
    const p = plan({ tlsPort: '443', secretGeneration: '2' }, ['tlsCert', 'tlsKey']);
    const env = relayEnv(p);
    const lines = relayConfig(env);
    expect(lines).toEqual(
      expect.arrayContaining([
        'tls-listening-port=443',
        `cert=${env.TURN_TLS_CERT_FILE}`,
        `pkey=${env.TURN_TLS_KEY_FILE}`,
        `turn_secret=${SECRETS.turnSecret}`,
        `turn_secret=${SECRETS.previousTurnSecret}`,
      ]),
    );
    expect(lines).not.toContain('no-tls');
  });

  it('keeps the exporter on loopback where turnserver has one', () => {
    const lines = relayConfig(relayEnv(plan({}), { STUB_PROMETHEUS: '1' }));
    expect(lines).toEqual(
      expect.arrayContaining([
        'prometheus',
        'prometheus-address=127.0.0.1',
        'prometheus-port=9641',
      ]),
    );
  });

  it('defaults what the plan leaves out as the stack does (RELAY_DEFAULTS)', () => {
    const lines = relayConfig({
      TURN_SECRET: SECRETS.turnSecret,
      TURN_RUNTIME_DIR: join(dir, `run-${n++}`),
    });
    expect(lines).toEqual(
      expect.arrayContaining([
        `realm=${RELAY_DEFAULTS.realm}`,
        `listening-port=${RELAY_DEFAULTS.turnPort}`,
        `min-port=${RELAY_DEFAULTS.relayPorts.min}`,
        `max-port=${RELAY_DEFAULTS.relayPorts.max}`,
      ]),
    );
    const tls = relayConfig({
      TURN_SECRET: SECRETS.turnSecret,
      TURN_RUNTIME_DIR: join(dir, `run-${n++}`),
      TURN_TLS_CERT_FILE: pki.certFile,
      TURN_TLS_KEY_FILE: pki.keyFile,
    });
    expect(tls).toContain(`tls-listening-port=${RELAY_DEFAULTS.tlsPort}`);
  });
});
