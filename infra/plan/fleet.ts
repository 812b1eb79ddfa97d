import type { FleetRelay } from '../../contract';
import type { FleetConfig, RelayHost } from '../stack/fleet';
import type { StackConfig } from '../stack/read';
import { iceServersUrl } from './common';
import { type DeploymentPlan, type PlanOptions, planDeployment, turnUris } from './deployment';

/**
 * A fleet's plan: the per-host plans of planDeployment, each host's service knowing every
 * relay. Pure data, like the single-host plan: the Pulumi program deploys it and the tests
 * realise it.
 */

export interface HostPlan {
  /** The relay's name: names its Pulumi resources, containers and images. */
  name: string;
  region: string;
  dockerHost?: string;
  plan: DeploymentPlan;
}

export interface FleetPlan {
  hosts: HostPlan[];
  outputs: { iceServersUrls: string[] };
}

/**
 * Each relay's resources are named after its `name` (`turnkey-us-east`), never its position;
 * relay 0 without one keeps the single-host names (`turnkey`), so a stack that grows into a
 * fleet keeps its relay. readFleetConfig makes every other relay have one.
 */
export function fleetRelayNames(relays: RelayHost[], base = 'turnkey'): string[] {
  return relays.map((r, i) => {
    if (r.name !== undefined) return `${base}-${r.name}`;
    if (i === 0) return base;
    throw new Error(`relay ${i} has no name (readFleetConfig requires one)`);
  });
}

/** The stack config as it holds on one host of the fleet. */
export function hostConfig(config: StackConfig, relay: RelayHost): StackConfig {
  const { externalIp: _, ...shared } = config;
  return {
    ...shared,
    publicHost: relay.publicHost,
    ...(relay.externalIp ? { externalIp: relay.externalIp } : {}),
    // Each host's images are built for its own architecture.
    ...(relay.platform ? { platform: relay.platform } : {}),
  };
}

/** Every relay as the service on relay `self` hands them out: its own first, then the others in stack order. */
export function fleetRelays(config: StackConfig, relays: RelayHost[], self: number): FleetRelay[] {
  const entry = (r: RelayHost): FleetRelay => ({
    region: r.region,
    urls: turnUris(hostConfig(config, r)),
  });
  return [self, ...relays.keys()]
    .filter((i, n) => n === 0 || i !== self)
    .map((i) => entry(relays[i] as RelayHost));
}

/**
 * One host of the fleet: planDeployment for that host's config; with more than one relay, its
 * service also learns every relay (TURN_RELAYS) and its own region (TURN_DEFAULT_REGION).
 */
export function planFleetHost(
  fleet: FleetConfig,
  index: number,
  opts: PlanOptions & { name: string },
): HostPlan {
  const relay = fleet.relays[index];
  if (!relay) throw new Error(`the fleet has no relay ${index}`);
  const { name } = opts;
  const plan = planDeployment(hostConfig(fleet.config, relay), {
    ...opts,
    ...(fleet.relays.length > 1
      ? {
          fleet: {
            relays: fleetRelays(fleet.config, fleet.relays, index),
            defaultRegion: relay.region,
            // Services reach each other only over HTTPS: without a certificate each listens
            // on its own host alone, and a revocation stays on the host it was made on.
            peers: fleet.config.tls
              ? fleet.relays
                  .filter((_, i) => i !== index)
                  .map((r) => new URL(iceServersUrl(hostConfig(fleet.config, r))).origin)
              : [],
          },
        }
      : {}),
  });
  return {
    name,
    region: relay.region,
    ...(relay.dockerHost ? { dockerHost: relay.dockerHost } : {}),
    plan,
  };
}

/** Every host's plan; `name` is the first relay's (default `turnkey`) and the others' prefix. */
export function planFleet(fleet: FleetConfig, opts: PlanOptions): FleetPlan {
  const names = fleetRelayNames(fleet.relays, opts.name);
  const hosts = fleet.relays.map((_, i) =>
    planFleetHost(fleet, i, { ...opts, name: names[i] as string }),
  );
  return { hosts, outputs: { iceServersUrls: hosts.map((h) => h.plan.outputs.iceServersUrl) } };
}
