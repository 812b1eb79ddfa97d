import { describe, expect, it } from 'vitest';
import { planDeployment, planFleet, readFleetConfig, readStackConfig } from '../../infra';
import { REPO_ROOT } from '../helpers/stack';

const source = (values: Record<string, string>) => ({
  get: (k: string) => values[k],
  has: (k: string) => k in values,
});
const fleetOf = (relays: unknown, extra: Record<string, string> = {}) =>
  readFleetConfig(source({ relays: JSON.stringify(relays), ...extra }));
const EU = { publicHost: 'eu.turn.example.com', region: 'eu-west' };
const US = {
  dockerHost: 'ssh://deploy@us.example.com',
  publicHost: 'us.turn.example.com',
  region: 'us-east',
  name: 'us-east',
};

describe('turnkey:relays', () => {
  it('without it, the single-host keys are a fleet of one whose plan is exactly planDeployment’s', () => {
    const values = { publicHost: 'turn.example.com', externalIp: '203.0.113.7/10.0.0.5' };
    const fleet = readFleetConfig(source(values));
    expect(fleet.relays).toEqual([
      { publicHost: 'turn.example.com', externalIp: '203.0.113.7/10.0.0.5', region: 'default' },
    ]);
    const opts = { stack: 'dev', projectRoot: REPO_ROOT };
    const plan = planFleet(fleet, opts);
    expect(plan.hosts).toHaveLength(1);
    expect(plan.hosts[0]?.plan).toEqual(planDeployment(readStackConfig(source(values)), opts));
    expect(plan.outputs.iceServersUrls).toEqual(['http://127.0.0.1:8080/v1/ice-servers']);
  });

  it('reads a list of relays; the first one’s address is the stack’s publicHost', () => {
    const fleet = fleetOf([EU, { ...US, externalIp: '203.0.113.9/10.0.0.9' }]);
    expect(fleet.relays).toEqual([EU, { ...US, externalIp: '203.0.113.9/10.0.0.9' }]);
    expect(fleet.config.publicHost).toBe('eu.turn.example.com');
    const hosts = planFleet(fleet, { stack: 'prod', projectRoot: REPO_ROOT }).hosts;
    const coturnEnv = (i: number) =>
      hosts[i]?.plan.containers.find((c) => c.role === 'coturn')?.env;
    expect(coturnEnv(0)?.EXTERNAL_IP).toBeUndefined();
    expect(coturnEnv(1)?.EXTERNAL_IP).toBe('203.0.113.9/10.0.0.9');
    expect(hosts[1]?.plan.outputs.turnUris[0]).toBe('turn:us.turn.example.com:3478?transport=udp');
    expect(hosts.map((h) => h.dockerHost)).toEqual([undefined, 'ssh://deploy@us.example.com']);
  });

  it.each([
    [
      'externalIp without the private address',
      [EU, { ...US, externalIp: '203.0.113.9' }],
      {},
      /^turnkey:relays\[1\]\.externalIp must be PUBLIC\/PRIVATE, not the public IP alone .*unset turnkey:relays\[1\]\.externalIp\): run `pulumi config set --path 'turnkey:relays\[1\]\.externalIp' 203\.0\.113\.9\/10\.0\.0\.5`$/,
    ],
    [
      'a bad public host',
      [{ ...EU, publicHost: 'not a host' }],
      {},
      /^turnkey:relays\[0\]\.publicHost must be a host name or IP address \(a DNS name, an IPv4 address, or an IPv6 address without brackets\), got "not a host": run `pulumi config set --path 'turnkey:relays\[0\]\.publicHost' turn\.example\.com`$/,
    ],
    [
      'no region',
      [{ publicHost: 'a.example.com' }],
      {},
      /turnkey:relays\[0\]\.region is required .*--path 'turnkey:relays\[0\]\.region' eu-west/,
    ],
    [
      'a bad region',
      [{ ...EU, region: 'EU West' }],
      {},
      /turnkey:relays\[0\]\.region must be lowercase letters, digits and '-'.*got "EU West"/,
    ],
    [
      'no dockerHost after the first',
      [EU, { ...US, dockerHost: undefined }],
      {},
      /turnkey:relays\[1\]\.dockerHost is required/,
    ],
    [
      'a dockerHost that is no Docker host',
      [EU, { ...US, dockerHost: 'us.example.com' }],
      {},
      /turnkey:relays\[1\]\.dockerHost must be a Docker host like ssh:\/\/user@host/,
    ],
    [
      'an unknown field',
      [{ ...EU, publichost: 'x' }],
      {},
      /turnkey:relays\[0\]\.publichost is not a relay setting .*pulumi config rm --path 'turnkey:relays\[0\]\.publichost'/,
    ],
    [
      'two relays on one address',
      [EU, { ...US, publicHost: EU.publicHost }],
      {},
      /turnkey:relays\[1\]\.publicHost \("eu\.turn\.example\.com"\) is also relays\[0\]\.publicHost/,
    ],
    [
      'an empty list',
      [],
      {},
      /turnkey:relays must be a non-empty list of relays: set it with --path, e.g. pulumi config set --path 'turnkey:relays\[0\]\.publicHost'/,
    ],
    ['a plain string', 'eu.turn.example.com', {}, /turnkey:relays must be a non-empty list/],
    [
      'the single-host publicHost too',
      [EU],
      { publicHost: 'x.example.com' },
      /turnkey:publicHost names one host's address, and turnkey:relays is set: give each relay its own in turnkey:relays\[i\]\.publicHost: run `pulumi config rm turnkey:publicHost`/,
    ],
    [
      'the single-host externalIp too',
      [EU],
      { externalIp: '203.0.113.7/10.0.0.5' },
      /turnkey:externalIp names one host's address.*pulumi config rm turnkey:externalIp/,
    ],
    [
      'provider metered',
      [EU],
      { provider: 'metered', meteredApiUrl: 'https://a.metered.live', meteredApiKey: 'k' },
      /turnkey:relays deploys Coturn relays, and turnkey:provider is metered/,
    ],
  ])('refuses %s, naming the key path and the fix', (_what, relays, extra, message) => {
    expect(() => fleetOf(relays, extra)).toThrow(message);
  });

  it('refuses JSON that is not structured config, saying to use --path', () => {
    expect(() => readFleetConfig(source({ relays: '[{publicHost: eu}' }))).toThrow(
      /turnkey:relays is not structured config \(a list of relays\): set it with --path/,
    );
  });
});

describe('draining a relay that is replaced (turnkey:drainSeconds)', () => {
  const relayOf = (p: {
    containers: { role: string; stopSignal: string; stopGraceSeconds: number }[];
  }) => p.containers.find((c) => c.role === 'coturn');
  const opts = { stack: 'prod', projectRoot: REPO_ROOT };

  it('stops the relay with SIGUSR1 (Coturn drains) and the service with SIGTERM', () => {
    const plan = planDeployment(readStackConfig(source({ publicHost: 'turn.example.com' })), opts);
    expect(relayOf(plan)).toMatchObject({ stopSignal: 'SIGUSR1', stopGraceSeconds: 15 });
    expect(plan.containers.find((c) => c.role === 'service')).toMatchObject({
      stopSignal: 'SIGTERM',
      stopGraceSeconds: 15,
    });
  });

  it('drains 15 s on a single host (a fleet of one too), 600 s in a fleet of several', () => {
    expect(relayOf(planFleet(fleetOf([EU]), opts).hosts[0]?.plan as never)?.stopGraceSeconds).toBe(
      15,
    );
    for (const host of planFleet(fleetOf([EU, US]), opts).hosts)
      expect(relayOf(host.plan)?.stopGraceSeconds).toBe(600);
  });

  it('takes turnkey:drainSeconds from 0 to a day, and refuses more with the key named', () => {
    for (const [value, grace] of [
      ['0', 0],
      ['3600', 3600],
    ] as const) {
      const fleet = fleetOf([EU, US], { drainSeconds: value });
      for (const host of planFleet(fleet, opts).hosts)
        expect(relayOf(host.plan)?.stopGraceSeconds).toBe(grace);
    }
    expect(() =>
      readStackConfig(source({ publicHost: 'turn.example.com', drainSeconds: '86401' })),
    ).toThrow(/turnkey:drainSeconds .*86,?400/);
  });
});

describe('turnkey:relays[i].name and platform', () => {
  const opts = { stack: 'prod', projectRoot: REPO_ROOT };
  const US2 = {
    ...US,
    dockerHost: 'ssh://deploy@us2.example.com',
    publicHost: 'us2.turn.example.com',
  };

  it('names every relay after the first, suggesting the name it was deployed under', () => {
    const { name: _, ...unnamed } = US2;
    expect(() => fleetOf([EU, US, unnamed])).toThrow(
      "turnkey:relays[2].name is required: a stable name keeps each relay's resources when others are added, removed or reordered; \"us-east-2\" keeps the resources this relay was deployed with: run `pulumi config set --path 'turnkey:relays[2].name' us-east-2`",
    );
  });

  it.each([
    [
      'a bad name',
      [EU, { ...US, name: 'US East' }],
      /^turnkey:relays\[1\]\.name must be lowercase letters, digits and '-', at most 24.*got "US East"/,
    ],
    [
      'a name taken twice',
      [EU, US, { ...US2, name: 'us-east' }],
      /^turnkey:relays\[2\]\.name \("us-east"\) is also relays\[1\]\.name/,
    ],
    [
      'a bad platform',
      [EU, { ...US, platform: 'arm64' }],
      /^turnkey:relays\[1\]\.platform must be a Linux platform like linux\/amd64 or linux\/arm64 .*got "arm64"/,
    ],
  ])('refuses %s with the key and the fix', (_what, relays, message) => {
    expect(() => fleetOf(relays)).toThrow(message);
  });

  it('names each relay’s resources after its name, the first unnamed keeping the single-host ones', () => {
    const fleet = planFleet(fleetOf([EU, US, { ...US2, name: 'us-b' }]), opts);
    expect(fleet.hosts.map((h) => h.name)).toEqual(['turnkey', 'turnkey-us-east', 'turnkey-us-b']);
    expect(fleet.hosts[2]?.plan.containers.map((c) => c.name)).toEqual([
      'turnkey-us-b-prod-service',
      'turnkey-us-b-prod-coturn',
    ]);
  });

  it('builds each host’s images for its own platform, the stack’s where it names none', () => {
    const fleet = planFleet(
      fleetOf([EU, { ...US, platform: 'linux/arm64' }], { platform: 'linux/amd64' }),
      opts,
    );
    expect(fleet.hosts.map((h) => h.plan.images.map((i) => i.platform))).toEqual([
      ['linux/amd64', 'linux/amd64'],
      ['linux/arm64', 'linux/arm64'],
    ]);
  });
});

describe('turnkey:relays[i].dockerHost over TCP', () => {
  it('is refused: the fleet would reach that engine without TLS; ssh:// is the fix', () => {
    expect(() => fleetOf([EU, { ...US, dockerHost: 'tcp://us.example.com:2376' }])).toThrow(
      /^turnkey:relays\[1\]\.dockerHost \("tcp:\/\/us\.example\.com:2376"\) is a TCP Docker API, which the fleet would reach without TLS: use ssh:\/\/user@host .*: run `pulumi config set --path 'turnkey:relays\[1\]\.dockerHost' ssh:\/\/deploy@turn\.example\.com`$/,
    );
  });
});
