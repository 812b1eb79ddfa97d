import { describe, expect, it } from 'vitest';
import {
  planDeployment,
  planFleet,
  readFleetConfig,
  readStackConfig,
  valuesSource,
} from '../../infra';
import { ConfigError, loadConfig } from '../../service/config';
import { REPO_ROOT } from '../helpers/stack';

/**
 * What revocations need from the plan: the relay's admin CLI named the same way in both
 * containers, the revocations on a disk volume, and a fleet's hosts knowing each other's
 * services (over HTTPS only) and the CA to check them with.
 */

const opts = { stack: 'prod', projectRoot: REPO_ROOT };
const envOf = (plan: ReturnType<typeof planDeployment>, role: string) =>
  plan.containers.find((c) => c.role === role)?.env ?? {};

describe('the plan for revocations', () => {
  it('gives the relay its admin CLI and the service the same port, the revocations on a disk volume', () => {
    const plan = planDeployment(
      readStackConfig(valuesSource({ publicHost: 'turn.example.com', relayAdminPort: '5800' })),
      opts,
    );
    expect(envOf(plan, 'coturn')).toMatchObject({
      TURN_CLI_PORT: '5800',
      TURN_CLI_PASSWORD_FILE: '/run/relay-secrets/cli-password',
    });
    expect(envOf(plan, 'service')).toMatchObject({
      TURN_CLI_PORT: '5800',
      REVOCATIONS_DIR: '/var/lib/turnkey/revocations',
    });
    expect(envOf(plan, 'service')).not.toHaveProperty('REVOCATION_PEERS');
    expect(plan.volumes).toContainEqual({
      purpose: 'revocations',
      name: 'turnkey-prod-revocations',
    });
  });

  const relays = JSON.stringify([
    { name: 'eu', dockerHost: 'ssh://a', publicHost: 'eu.example.com', region: 'eu' },
    { name: 'us', dockerHost: 'ssh://b', publicHost: 'us.example.com', region: 'us' },
  ]);

  it('has each fleet host pass revocations to the others’ services over HTTPS, with the fleet CA', () => {
    const fleet = planFleet(
      readFleetConfig(
        valuesSource(
          { relays, fleetCaCert: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----' },
          ['tlsCert', 'tlsKey'],
        ),
      ),
      opts,
    );
    const [eu, us] = fleet.hosts.map((h) => h.plan.containers.find((c) => c.role === 'service'));
    expect(eu?.env.REVOCATION_PEERS).toBe('https://us.example.com:8080');
    expect(us?.env.REVOCATION_PEERS).toBe('https://eu.example.com:8080');
    expect(eu?.env.PEER_CA_FILE).toBe('/run/secrets/fleet-ca.pem');
    expect(eu?.files.map((f) => f.secret)).toContain('fleetCaCert');
  });

  it('passes nothing on without a certificate: each service listens on its own host alone', () => {
    const fleet = planFleet(readFleetConfig(valuesSource({ relays })), opts);
    for (const h of fleet.hosts)
      expect(h.plan.containers.find((c) => c.role === 'service')?.env).not.toHaveProperty(
        'REVOCATION_PEERS',
      );
  });

  it('refuses a fleet CA that is not PEM, naming the key', () => {
    expect(() =>
      readFleetConfig(valuesSource({ relays, fleetCaCert: 'not a cert' }, ['tlsCert', 'tlsKey'])),
    ).toThrow(/^turnkey:fleetCaCert holds no PEM certificate/);
  });
});

describe('the service’s revocation settings', () => {
  const base = { TURN_PROVIDER: 'stun' };
  it.each([
    [{ REVOCATION_PEERS: 'http://us.example.com:8080' }, /REVOCATION_PEERS must be https origins/],
    [
      { REVOCATION_PEERS: 'https://us.example.com:8080/v1' },
      /REVOCATION_PEERS must be https origins/,
    ],
    [{ REVOCATION_PEERS: 'nonsense' }, /REVOCATION_PEERS must be service origins like https:/],
    [{ REVOCATIONS_DIR: 'state' }, /REVOCATIONS_DIR must be an absolute path/],
    [{ TURN_CLI_PORT: '70000' }, /TURN_CLI_PORT must be a port number/],
    [{ PEER_CA_FILE: '/nonexistent/ca.pem' }, /PEER_CA_FILE cannot be read \(ENOENT\)/],
  ])('refuses %j with one line naming the variable', (env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });

  it('reads the peers as origins', () => {
    expect(
      loadConfig({
        ...base,
        REVOCATION_PEERS: 'https://us.example.com:8080, https://eu.example.com',
      }).revocations.peers,
    ).toEqual(['https://us.example.com:8080', 'https://eu.example.com']);
  });
});
