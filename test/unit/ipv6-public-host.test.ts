import { describe, expect, it } from 'vitest';
import {
  type DeploymentPlan,
  planDeployment,
  planFleet,
  readFleetConfig,
  readStackConfig,
  StackConfigError,
  valuesSource,
} from '../../infra';
import { readFleetEnv } from '../../service/config/fleet';
import { readRevocationSettings } from '../../service/config/revocations';
import { REPO_ROOT } from '../helpers/stack';

/**
 * turnkey:publicHost as a DNS name, an IPv4 or an IPv6 literal: every URI and URL the plan
 * builds from it (the stack outputs, the service's TURN_URLS/STUN_URLS, a fleet's TURN_RELAYS,
 * iceServersUrls and REVOCATION_PEERS) brackets IPv6 and nothing else; and the forms people
 * copy from elsewhere are refused with what to write instead.
 */

const opts = { stack: 'prod', projectRoot: REPO_ROOT };
const TLS = ['tlsCert', 'tlsKey'];
const plan = (values: Record<string, string>, secrets: string[] = []) =>
  planDeployment(readStackConfig(valuesSource(values, secrets)), opts);
const envOf = (p: DeploymentPlan, role: 'coturn' | 'service') =>
  p.containers.find((c) => c.role === role)?.env ?? {};

describe('URIs and URLs for each kind of publicHost', () => {
  it.each([
    ['an IPv6 address', '3ffe:11::10', '[3ffe:11::10]'],
    ['an IPv4 address', '198.51.100.7', '198.51.100.7'],
    ['a DNS name', 'turn.example.com', 'turn.example.com'],
  ])('%s (%s): what the stack outputs and the service hands out', (_what, host, inUri) => {
    const p = plan({ publicHost: host }, TLS);
    const turn = [
      `turn:${inUri}:3478?transport=udp`,
      `turn:${inUri}:3478?transport=tcp`,
      `turns:${inUri}:5349?transport=tcp`,
    ];
    expect(p.outputs.turnUris).toEqual(turn);
    expect(p.outputs.stunUris).toEqual([`stun:${inUri}:3478`]);
    expect(p.outputs.iceServersUrl).toBe(`https://${inUri}:8080/v1/ice-servers`);
    expect(envOf(p, 'service')).toMatchObject({
      TURN_URLS: turn.join(','),
      STUN_URLS: `stun:${inUri}:3478`,
      // Same host network as the relay: probed on loopback, whatever the public address.
      TURN_PROBE_URL: 'turn:127.0.0.1:3478',
    });
  });

  it('gives an IPv6 publicHost Coturn’s default realm (a realm is a name)', () => {
    expect(readStackConfig(valuesSource({ publicHost: '3ffe:11::10' })).realm).toBe('turnkey');
    expect(envOf(plan({ publicHost: '3ffe:11::10' }), 'coturn').TURN_REALM).toBe('turnkey');
  });

  it('brackets an IPv6 listening address in the probe and the service’s healthcheck', () => {
    const p = plan({ publicHost: '3ffe:11::10', listeningIps: '3ffe:11::10' }, TLS);
    expect(envOf(p, 'service')).toMatchObject({
      HOST: '3ffe:11::10',
      TURN_PROBE_URL: 'turn:[3ffe:11::10]:3478',
    });
    const service = p.containers.find((c) => c.role === 'service');
    expect(service?.healthcheck.test.join(' ')).toContain("'https://[3ffe:11::10]:8080/healthz'");
  });

  it('brackets an IPv6 serviceHost in the plain-HTTP iceServersUrl', () => {
    const p = plan({ publicHost: '3ffe:11::10', serviceHost: 'fd00::5' });
    expect(p.outputs.iceServersUrl).toBe('http://[fd00::5]:8080/v1/ice-servers');
  });
});

describe('a fleet of an IPv6-literal relay and an IPv4 one', () => {
  const relays = [
    { publicHost: '3ffe:11::10', region: 'eu-west' },
    {
      name: 'us-east',
      dockerHost: 'ssh://deploy@us',
      publicHost: '198.51.100.7',
      region: 'us-east',
    },
  ];
  // Planned in each test, so that one wrong URL fails that test, not the file.
  const fleet = () =>
    planFleet(readFleetConfig(valuesSource({ relays: JSON.stringify(relays) }, TLS)), opts);
  const serviceEnv = (i: number) => envOf(fleet().hosts[i]?.plan as DeploymentPlan, 'service');
  const EU = [
    'turn:[3ffe:11::10]:3478?transport=udp',
    'turn:[3ffe:11::10]:3478?transport=tcp',
    'turns:[3ffe:11::10]:5349?transport=tcp',
  ];
  const US = [
    'turn:198.51.100.7:3478?transport=udp',
    'turn:198.51.100.7:3478?transport=tcp',
    'turns:198.51.100.7:5349?transport=tcp',
  ];

  it('outputs each host’s endpoint, the IPv6 one bracketed', () => {
    expect(fleet().outputs.iceServersUrls).toEqual([
      'https://[3ffe:11::10]:8080/v1/ice-servers',
      'https://198.51.100.7:8080/v1/ice-servers',
    ]);
  });

  it('hands out both families’ URIs, each host its own first, and its service reads them back', () => {
    const probeUrl = 'turn:127.0.0.1:3478';
    expect(JSON.parse(serviceEnv(0).TURN_RELAYS as string)).toEqual([
      { region: 'eu-west', urls: EU, probeUrl },
      { region: 'us-east', urls: US },
    ]);
    expect(JSON.parse(serviceEnv(1).TURN_RELAYS as string)).toEqual([
      { region: 'us-east', urls: US, probeUrl },
      { region: 'eu-west', urls: EU },
    ]);
    expect(readFleetEnv(serviceEnv(0))?.relays.map((r) => r.urls)).toEqual([EU, US]);
  });

  it('passes revocations to the other host’s origin, an IPv6 one bracketed', () => {
    expect(serviceEnv(0).REVOCATION_PEERS).toBe('https://198.51.100.7:8080');
    expect(serviceEnv(1).REVOCATION_PEERS).toBe('https://[3ffe:11::10]:8080');
    expect(readRevocationSettings(serviceEnv(1)).peers).toEqual(['https://[3ffe:11::10]:8080']);
  });
});

function publicHostError(value: string, fleet = false): string {
  try {
    if (fleet)
      readFleetConfig(
        valuesSource({
          relays: JSON.stringify([
            { publicHost: 'eu.turn.example.com', region: 'eu-west' },
            { name: 'us', dockerHost: 'ssh://deploy@us', publicHost: value, region: 'us' },
          ]),
        }),
      );
    else readStackConfig(valuesSource({ publicHost: value }));
  } catch (err) {
    expect(err).toBeInstanceOf(StackConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected ${value} to be refused`);
}

const BRACKETS = 'turnkey adds the brackets in the URIs and URLs it hands out';
const PORTS = 'the ports are turnkey:turnPort, turnkey:tlsPort and turnkey:servicePort';

describe('turnkey:publicHost forms refused, each with what to write instead', () => {
  it.each([
    [
      '[3ffe::1]',
      `is an IPv6 address in brackets ("[3ffe::1]"): write an IPv6 address without brackets; ${BRACKETS}`,
      '3ffe::1',
    ],
    [
      '[3ffe::1]:3478',
      `is an IPv6 address in brackets with a port ("[3ffe::1]:3478"): write an IPv6 address without brackets or port (${PORTS}); ${BRACKETS}`,
      '3ffe::1',
    ],
    [
      'fe80::1%eth0',
      'is an IPv6 address with a zone id ("fe80::1%eth0"), which names an interface of one machine and means nothing to a browser: write an IPv6 address without %zone that browsers reach, or a DNS name',
      'turn.example.com',
    ],
    [
      '3ffe::1%2',
      'is an IPv6 address with a zone id ("3ffe::1%2"), which names an interface of one machine and means nothing to a browser: write an IPv6 address without %zone that browsers reach, or a DNS name',
      '3ffe::1',
    ],
    [
      'https://x',
      'is a URL ("https://x"): write the host alone (a DNS name, an IPv4 address, or an IPv6 address without brackets), without scheme, port or path',
      'x',
    ],
    [
      'https://[3ffe::1]:8080/v1/ice-servers',
      'is a URL ("https://[3ffe::1]:8080/v1/ice-servers"): write the host alone (a DNS name, an IPv4 address, or an IPv6 address without brackets), without scheme, port or path',
      '3ffe::1',
    ],
    [
      'turn.example.com:3478',
      `is host:port ("turn.example.com:3478"): write the host alone; ${PORTS}`,
      'turn.example.com',
    ],
    [
      '198.51.100.7:8080',
      `is host:port ("198.51.100.7:8080"): write the host alone; ${PORTS}`,
      '198.51.100.7',
    ],
    [
      'not a host!',
      'must be a host name or IP address (a DNS name, an IPv4 address, or an IPv6 address without brackets), got "not a host!"',
      'turn.example.com',
    ],
  ])('%s', (value, problem, instead) => {
    expect(publicHostError(value)).toBe(
      `turnkey:publicHost ${problem}: run \`pulumi config set turnkey:publicHost ${instead}\``,
    );
    expect(publicHostError(value, true)).toBe(
      `turnkey:relays[1].publicHost ${problem}: run \`pulumi config set --path 'turnkey:relays[1].publicHost' ${instead}\``,
    );
  });

  it.each(['3ffe:11::10', '::ffff:198.51.100.7', '198.51.100.7', 'turn.example.com', 'localhost'])(
    'accepts %s as given',
    (host) => {
      expect(readStackConfig(valuesSource({ publicHost: host })).publicHost).toBe(host);
    },
  );
});
