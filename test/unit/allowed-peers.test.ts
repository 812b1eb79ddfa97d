import { describe, expect, it } from 'vitest';
import { allowedPeerRangeProblem } from '../../contract';
import {
  planDeployment,
  planFleet,
  readFleetConfig,
  readStackConfig,
  StackConfigError,
  valuesSource,
} from '../../infra';
import { REFUSED_ALLOWANCES } from '../helpers/allowed-peer-cases';
import { escapeRegExp } from '../helpers/regexp';
import { REPO_ROOT } from '../helpers/stack';

/**
 * turnkey:allowedPeerIps: the private ranges a relay inside a VPC, office network or VPN may
 * relay to although its deny list refuses them. Coturn checks the allowance before the deny
 * list, so every entry must stay inside one private range; the stack reader refuses the rest up
 * front, and the plan hands what it accepts to the relay as TURN_ALLOWED_PEER_IPS.
 */

const HOST = { publicHost: 'turn.example.com' };
const LOCAL = { publicHost: '127.0.0.1', listeningIps: '127.0.0.1' };
const opts = { stack: 'prod', projectRoot: REPO_ROOT };

function error(values: Record<string, string>): string {
  try {
    readStackConfig(valuesSource(values));
  } catch (err) {
    expect(err).toBeInstanceOf(StackConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a StackConfigError');
}

const relayEnv = (values: Record<string, string>) =>
  planDeployment(readStackConfig(valuesSource(values)), opts).containers.find(
    (c) => c.role === 'coturn',
  )?.env as Record<string, string>;

describe('turnkey:allowedPeerIps', () => {
  it.each([
    ['10.20.0.0/16', '10.20.0.0/16'],
    ['10.20.0.0/16, 192.168.7.0/24', '10.20.0.0/16,192.168.7.0/24'],
    ['172.16.0.0/12', '172.16.0.0/12'],
    ['100.64.0.0/10', '100.64.0.0/10'],
    ['10.20.0.5', '10.20.0.5'],
  ])('accepts %s and hands it to the relay as TURN_ALLOWED_PEER_IPS', (value, env) => {
    expect(
      readStackConfig(valuesSource({ ...HOST, allowedPeerIps: value })).allowedPeerIps,
    ).toEqual(env.split(','));
    expect(relayEnv({ ...HOST, allowedPeerIps: value }).TURN_ALLOWED_PEER_IPS).toBe(env);
  });

  it('leaves TURN_ALLOWED_PEER_IPS out of the relay when unset: the deny list stays whole', () => {
    expect(relayEnv(HOST)).not.toHaveProperty('TURN_ALLOWED_PEER_IPS');
  });

  it.each(REFUSED_ALLOWANCES)('refuses %s, saying why', (entry, why) => {
    const msg = error({ ...HOST, allowedPeerIps: `10.20.0.0/16,${entry}` });
    expect(msg).toMatch(new RegExp(`^turnkey:allowedPeerIps entry ${escapeRegExp(entry)} `));
    expect(msg).toMatch(why);
    // The fix keeps the entries that were fine.
    expect(msg).toMatch(/run `pulumi config set turnkey:allowedPeerIps 10\.20\.0\.0\/16`$/);
  });

  it('refuses an empty list', () => {
    expect(error({ ...HOST, allowedPeerIps: ' , ' })).toMatch(
      /^turnkey:allowedPeerIps must be CIDR ranges, comma-separated/,
    );
  });

  it('allows loopback only on a relay that listens and relays on loopback alone (the dev stack)', () => {
    expect(relayEnv({ ...LOCAL, allowedPeerIps: '127.0.0.0/8' }).TURN_ALLOWED_PEER_IPS).toBe(
      '127.0.0.0/8',
    );
    expect(
      error({ ...LOCAL, listeningIps: '127.0.0.1,10.0.0.5', allowedPeerIps: '127.0.0.0/8' }),
    ).toMatch(/is loopback/);
    expect(
      error({ ...LOCAL, externalIp: '11.0.0.20/10.0.0.5', allowedPeerIps: '127.0.0.1' }),
    ).toMatch(/is loopback/);
    // Metadata stays refused there too.
    expect(error({ ...LOCAL, allowedPeerIps: '169.254.169.254' })).toMatch(/is link-local/);
  });

  it('reaches every relay of a fleet', () => {
    const relays = [
      { name: 'eu', dockerHost: 'ssh://a', publicHost: 'eu.example.com', region: 'eu' },
      { name: 'us', dockerHost: 'ssh://b', publicHost: 'us.example.com', region: 'us' },
    ];
    const fleet = planFleet(
      readFleetConfig(
        valuesSource({ relays: JSON.stringify(relays), allowedPeerIps: '10.8.0.0/16' }),
      ),
      opts,
    );
    const envs = fleet.hosts.map(
      (h) => h.plan.containers.find((c) => c.role === 'coturn')?.env.TURN_ALLOWED_PEER_IPS,
    );
    expect(envs).toEqual(['10.8.0.0/16', '10.8.0.0/16']);
  });
});

describe('allowedPeerRangeProblem (the rule coturn/entrypoint.sh applies too)', () => {
  it.each(['10.0.0.0/8', '192.168.0.0/16', '100.127.255.255', '172.31.0.0/16'])(
    'has no problem with %s',
    (entry) => expect(allowedPeerRangeProblem(entry, false)).toBeUndefined(),
  );
  it('treats loopback as allowed only when the relay is loopback-only', () => {
    expect(allowedPeerRangeProblem('127.0.0.0/8', true)).toBeUndefined();
    expect(allowedPeerRangeProblem('0:0:0:0:0:0:0:1', true)).toBeUndefined();
    expect(allowedPeerRangeProblem('126.0.0.0/7', true)).toMatch(/not inside one private range/);
  });
});
