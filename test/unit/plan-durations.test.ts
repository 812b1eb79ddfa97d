import { describe, expect, it } from 'vitest';
import {
  type DeploymentPlan,
  planDeployment,
  planFleet,
  readFleetConfig,
  readStackConfig,
  valuesSource,
} from '../../infra';
import { nanoseconds } from '../helpers/docker';
import { REPO_ROOT } from '../helpers/stack';

/**
 * The healthcheck's durations as the Docker provider reads them back: Go's time.Duration
 * String() (kreuzwerker terraform-provider-docker, resource_docker_container_funcs.go,
 * resourceDockerContainerRead: "start_period": …StartPeriod.String()). The component replaces
 * a container whose healthcheck changed (replaceOnChanges), so a duration written any other way
 * ("60s", read back "1m0s") would replace both containers on every `pulumi up`.
 */

/** Go's time.Duration.String() for whole milliseconds. */
function goString(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  const sec = `${s}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  return sec;
}

const HOST = { publicHost: 'turn.example.com' };
const opts = { stack: 'prod', projectRoot: REPO_ROOT };
const plans: [string, DeploymentPlan][] = [
  [
    'dev',
    planDeployment(readStackConfig(valuesSource({ ...HOST, listeningIps: '127.0.0.1' })), opts),
  ],
  ['tls', planDeployment(readStackConfig(valuesSource(HOST, ['tlsCert', 'tlsKey'])), opts)],
  [
    'acme',
    planDeployment(readStackConfig(valuesSource({ ...HOST, acmeEmail: 'ops@example.com' })), opts),
  ],
  ['stun', planDeployment(readStackConfig(valuesSource({ ...HOST, provider: 'stun' })), opts)],
  ...planFleet(
    readFleetConfig(
      valuesSource({
        relays: JSON.stringify([
          { publicHost: 'eu.turn.example.com', region: 'eu-west' },
          {
            publicHost: 'us.turn.example.com',
            region: 'us-east',
            name: 'us',
            dockerHost: 'ssh://us',
          },
        ]),
      }),
    ),
    opts,
  ).hosts.map((h) => [`fleet ${h.name}`, h.plan] as [string, DeploymentPlan]),
];

describe('healthcheck durations round-trip through the provider’s read', () => {
  it('is what Go prints: 1m0s, 1m30s, 10s', () => {
    expect([60_000, 90_000, 10_000, 500].map(goString)).toEqual(['1m0s', '1m30s', '10s', '500ms']);
  });

  it.each(plans)(
    '%s: every container’s interval, timeout and start period read back as written',
    (_name, plan) => {
      for (const c of plan.containers)
        for (const field of ['interval', 'timeout', 'startPeriod'] as const) {
          const written = c.healthcheck[field];
          expect(goString(nanoseconds(written) / 1e6), `${c.name} ${field}`).toBe(written);
        }
    },
  );
});
