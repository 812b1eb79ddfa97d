import { describe, expect, it } from 'vitest';
import {
  planDeployment,
  planFleet,
  readFleetConfig,
  readStackConfig,
  StackConfigError,
  valuesSource,
} from '../../infra';
import { REPO_ROOT } from '../helpers/stack';

/** turnkey:acmeEmail and its companions, as the stack reads them and the plan deploys them. */

const read = (values: Record<string, string>, secrets: string[] = []) =>
  readStackConfig(valuesSource({ publicHost: 'turn.example.com', ...values }, secrets));

function error(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(StackConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a StackConfigError');
}

const ACME = { acmeEmail: 'ops@example.com' };

describe('turnkey:acmeEmail', () => {
  it("turns TLS on with Let's Encrypt's production directory and port 80 by default", () => {
    const config = read(ACME);
    expect(config.tls).toBe(true);
    expect(config.acme).toEqual({
      email: 'ops@example.com',
      directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory',
      httpPort: 80,
    });
  });

  it('is refused together with tlsCert/tlsKey, naming the command for either choice', () => {
    expect(error(() => read(ACME, ['tlsCert', 'tlsKey']))).toBe(
      'turnkey:acmeEmail and turnkey:tlsCert/tlsKey are both set: keep one certificate source. For automatic certificates run `pulumi config rm turnkey:tlsCert && pulumi config rm turnkey:tlsKey`; to keep your own certificate run `pulumi config rm turnkey:acmeEmail`',
    );
  });

  it.each([
    [
      { acmeEmail: 'not-an-address' },
      /^turnkey:acmeEmail must be an e-mail address, got "not-an-address": run `pulumi config set turnkey:acmeEmail ops@example.com`$/,
    ],
    [
      { ...ACME, publicHost: '203.0.113.7' },
      /^turnkey:publicHost must be a DNS name with turnkey:acmeEmail .* got the address 203\.0\.113\.7: run/,
    ],
    [
      { ...ACME, acmeDirectoryUrl: 'http://ca.example.com/dir' },
      /^turnkey:acmeDirectoryUrl must be the https URL of an ACME directory .*: run `pulumi config set turnkey:acmeDirectoryUrl https:\/\/acme-staging-v02/,
    ],
    [
      { ...ACME, acmeHttpPort: '0' },
      /^turnkey:acmeHttpPort must be a port from 1 to 65535, got "0"/,
    ],
    [
      { ...ACME, acmeHttpPort: '8080' },
      /^turnkey:acmeHttpPort \(8080\) is the same port as turnkey:servicePort/,
    ],
    [
      { ...ACME, acmeHttpPort: '50000' },
      /^turnkey:acmeHttpPort \(50000\) lies inside turnkey:relayPorts .*: run `pulumi config set turnkey:acmeHttpPort 80`$/,
    ],
    [{ ...ACME, acmeCaCert: 'hello' }, /^turnkey:acmeCaCert holds no PEM certificate/],
    [
      { acmeDirectoryUrl: 'https://ca.example.com/dir' },
      /^turnkey:acmeEmail is required when turnkey:acmeDirectoryUrl is set/,
    ],
    [{ acmeHttpPort: '8081' }, /^turnkey:acmeEmail is required when turnkey:acmeHttpPort is set/],
  ])('refuses %o with the key and the fix', (values, message) => {
    expect(error(() => read(values as Record<string, string>))).toMatch(message);
  });

  it('refuses a fleet host whose public host is an address: each orders for its own name', () => {
    const relays = JSON.stringify([
      { publicHost: 'eu.turn.example.com', region: 'eu-west' },
      { publicHost: '198.51.100.7', region: 'us-east', name: 'us', dockerHost: 'ssh://us' },
    ]);
    expect(error(() => readFleetConfig(valuesSource({ ...ACME, relays })))).toMatch(
      /^turnkey:relays\[1\]\.publicHost must be a DNS name with turnkey:acmeEmail/,
    );
  });
});

describe('the plan with ACME', () => {
  const plan = (values: Record<string, string> = {}) =>
    planDeployment(read({ ...ACME, ...values }), { stack: 'prod', projectRoot: REPO_ROOT });
  const service = (p: ReturnType<typeof plan>) => p.containers.find((c) => c.role === 'service');

  it('gives the service its settings and a disk volume for its state, and no certificate files', () => {
    const p = plan({ acmeDirectoryUrl: 'https://ca.example.com/dir' });
    const s = service(p);
    expect(s?.env).toMatchObject({
      ACME_EMAIL: 'ops@example.com',
      ACME_DIRECTORY_URL: 'https://ca.example.com/dir',
      ACME_DOMAINS: 'turn.example.com',
      ACME_HTTP_PORT: '80',
      ACME_STATE_DIR: '/var/lib/turnkey/acme',
    });
    expect(s?.env).not.toHaveProperty('TLS_CERT_FILE');
    expect(s?.env).not.toHaveProperty('ACME_CA_FILE');
    expect(p.secrets).not.toContain('tlsCert');
    expect(p.volumes).toContainEqual({ purpose: 'acme-state', name: 'turnkey-prod-acme-state' });
    expect(s?.volumes).toContainEqual({
      volume: 'turnkey-prod-acme-state',
      path: '/var/lib/turnkey/acme',
      readOnly: false,
    });
    // HTTPS and turns: as with a supplied certificate.
    expect(p.outputs.iceServersUrl).toBe('https://turn.example.com:8080/v1/ice-servers');
    expect(p.outputs.turnUris).toContain('turns:turn.example.com:5349?transport=tcp');
    const relay = p.containers.find((c) => c.role === 'coturn');
    expect(relay?.env.TURN_TLS_CERT_FILE).toBe('/run/relay-secrets/tls-cert.pem');
  });

  it('starts as root only for port 80, with the capabilities to bind it and switch users', () => {
    const s = service(plan());
    expect(s?.user).toBe('0:0');
    expect(s?.capabilities).toEqual({
      drop: ['ALL'],
      add: ['NET_BIND_SERVICE', 'SETUID', 'SETGID'],
    });
    expect(s?.securityOpts).toEqual(['no-new-privileges']);
    const behindProxy = service(plan({ acmeHttpPort: '8081' }));
    expect(behindProxy?.user).toBeUndefined();
    expect(behindProxy?.capabilities).toEqual({ drop: ['ALL'], add: [] });
  });

  it('writes a private CA root as a file the service trusts', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';
    const p = plan({ acmeCaCert: pem });
    expect(service(p)?.env.ACME_CA_FILE).toBe('/run/secrets/acme-ca.pem');
    expect(service(p)?.files).toContainEqual({
      path: '/run/secrets/acme-ca.pem',
      secret: 'acmeCaCert',
      mode: '0444',
    });
    expect(p.secrets).toContain('acmeCaCert');
  });

  it('waits up to a minute for the first certificate before calling the service unhealthy', () => {
    expect(service(plan())?.healthcheck.startPeriod).toBe('1m0s');
  });
});

describe('a fleet with ACME', () => {
  it('orders on each host for that host’s own name, into that host’s own volume', () => {
    const relays = JSON.stringify([
      { publicHost: 'eu.turn.example.com', region: 'eu-west' },
      { publicHost: 'us.turn.example.com', region: 'us-east', name: 'us', dockerHost: 'ssh://us' },
    ]);
    const fleet = planFleet(readFleetConfig(valuesSource({ ...ACME, relays })), {
      stack: 'prod',
      projectRoot: REPO_ROOT,
    });
    const perHost = fleet.hosts.map(({ plan }) => {
      const s = plan.containers.find((c) => c.role === 'service');
      return [s?.env.ACME_DOMAINS, plan.volumes.find((v) => v.purpose === 'acme-state')?.name];
    });
    expect(perHost).toEqual([
      ['eu.turn.example.com', expect.stringMatching(/acme-state$/)],
      ['us.turn.example.com', expect.stringMatching(/acme-state$/)],
    ]);
    expect(fleet.outputs.iceServersUrls).toEqual([
      'https://eu.turn.example.com:8080/v1/ice-servers',
      'https://us.turn.example.com:8080/v1/ice-servers',
    ]);
  });
});
