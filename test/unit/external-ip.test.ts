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
import { ACCEPTED_EXTERNAL_IPS, REFUSED_EXTERNAL_IPS } from '../helpers/external-ip-cases';
import { REPO_ROOT } from '../helpers/stack';

/**
 * turnkey:externalIp (and a fleet relay's externalIp): one PUBLIC/PRIVATE pair, or one IPv4 and
 * one IPv6 pair comma-separated. The refusals are the table coturn/entrypoint.sh is tested
 * against too (test/coturn/external-ip.test.ts).
 */

const HOST = { publicHost: 'turn.example.com' };
const opts = { stack: 'prod', projectRoot: REPO_ROOT };
const coturnEnv = (p: DeploymentPlan) => p.containers.find((c) => c.role === 'coturn')?.env ?? {};

function error(values: Record<string, string>): string {
  try {
    readFleetConfig(valuesSource(values));
  } catch (err) {
    expect(err).toBeInstanceOf(StackConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(values)} to be refused`);
}

const fleetWith = (externalIp: string) => ({
  relays: JSON.stringify([
    { publicHost: 'eu.turn.example.com', region: 'eu-west' },
    {
      name: 'us',
      dockerHost: 'ssh://deploy@us',
      publicHost: 'us.example.com',
      region: 'us',
      externalIp,
    },
  ]),
});

describe('turnkey:externalIp refused, one line naming the key and the fix', () => {
  it.each(REFUSED_EXTERNAL_IPS)('%s', (externalIp, why) => {
    const single = error({ ...HOST, externalIp });
    expect(single).toMatch(why);
    expect(single).toMatch(
      /^turnkey:externalIp [^\n]*: run `pulumi config set turnkey:externalIp \S+`$/,
    );
    const relay = error(fleetWith(externalIp));
    expect(relay).toMatch(why);
    expect(relay).toMatch(
      /^turnkey:relays\[1\]\.externalIp [^\n]*: run `pulumi config set --path 'turnkey:relays\[1\]\.externalIp' \S+`$/,
    );
  });

  // The command each error offers: what the value should have been, near what was given.
  it.each([
    ['198.51.100.7/10.0.0.5,198.51.100.8/10.0.0.6', '198.51.100.7/10.0.0.5'],
    [
      '198.51.100.7/10.0.0.5,198.51.100.8/10.0.0.6,2001:db8::7/fd00::5',
      '198.51.100.7/10.0.0.5,2001:db8::7/fd00::5',
    ],
    ['198.51.100.7/10.0.0.5,,2001:db8::7/fd00::5', '198.51.100.7/10.0.0.5,2001:db8::7/fd00::5'],
    ['198.51.100.7/10.0.0.5,2001:db8::7', '198.51.100.7/10.0.0.5,2001:db8::7/fd00::5'],
    ['2001:db8::7/fe80::1,198.51.100.7/10.0.0.5', '2001:db8::7/fd00::5,198.51.100.7/10.0.0.5'],
    ['198.51.100.7/fd00::5', '198.51.100.7/10.0.0.5'],
  ])('%s → suggests %s', (externalIp, suggested) => {
    expect(error({ ...HOST, externalIp })).toMatch(
      new RegExp(
        `: run \`pulumi config set turnkey:externalIp ${suggested.replace(/\./g, '\\.')}\`$`,
      ),
    );
  });
});

describe('turnkey:externalIp accepted', () => {
  it.each(ACCEPTED_EXTERNAL_IPS)('%s, passed on to the relay as EXTERNAL_IP', (externalIp) => {
    const config = readStackConfig(valuesSource({ ...HOST, externalIp }));
    expect(config.externalIp).toBe(externalIp);
    expect(coturnEnv(planDeployment(config, opts)).EXTERNAL_IP).toBe(externalIp);
    const fleet = planFleet(readFleetConfig(valuesSource(fleetWith(externalIp))), opts);
    expect(coturnEnv(fleet.hosts[1]?.plan as DeploymentPlan).EXTERNAL_IP).toBe(externalIp);
  });

  it('drops blanks around the comma: EXTERNAL_IP takes none', () => {
    const config = readStackConfig(
      valuesSource({ ...HOST, externalIp: ' 203.0.113.7/10.0.0.5 , 2001:db8::7/fd00::5 ' }),
    );
    expect(config.externalIp).toBe('203.0.113.7/10.0.0.5,2001:db8::7/fd00::5');
  });
});
