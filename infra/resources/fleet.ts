import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import { fleetRelayNames } from '../plan/fleet';
import type { FleetConfig } from '../stack/fleet';
import { stackRelayArgs, TurnkeyRelay } from './relay';

/**
 * Deploys a fleet (infra/plan/fleet.ts): one TurnkeyRelay per host, each through its own Docker
 * provider. Relay 0 is the single-host stack's relay under the same name (and, without a
 * dockerHost, the same default provider), so a stack that grows into a fleet keeps it.
 */

export interface DeployedFleet {
  relays: TurnkeyRelay[];
  /** One per relay with a dockerHost, by relay index. */
  providers: (docker.Provider | undefined)[];
  iceServersUrls: pulumi.Output<string[]>;
}

export function deployFleet(
  fleet: FleetConfig,
  secret: Parameters<typeof stackRelayArgs>[1],
  name = 'turnkey',
): DeployedFleet {
  const args = stackRelayArgs(fleet.config, secret);
  const names = fleetRelayNames(fleet.relays, name);
  const relays: TurnkeyRelay[] = [];
  const providers: (docker.Provider | undefined)[] = [];
  for (const [index, relay] of fleet.relays.entries()) {
    const relayName = names[index] as string;
    const provider = relay.dockerHost
      ? new docker.Provider(`${relayName}-docker`, { host: relay.dockerHost })
      : undefined;
    providers.push(provider);
    const previous = relays[index - 1];
    relays.push(
      new TurnkeyRelay(
        relayName,
        {
          ...args,
          // A fleet of one is exactly the single-host stack (planDeployment, no TURN_RELAYS).
          ...(fleet.relays.length > 1 ? { fleet: { relays: fleet.relays, index } } : {}),
          // One TURN secret (rotated by turnkey:secretGeneration) and one API token for all.
          ...(relays[0] ? { sharedSecrets: relays[0].secrets } : {}),
          // Rolling: this host's containers are created, replaced or updated only once the
          // previous host's are done (and healthy: wait), so the fleet never loses all relays.
          // The SDK registers a resource only once its dependsOn URNs resolve, which the engine
          // answers when their step is done (@pulumi/pulumi runtime/resource.js prepareResource,
          // getAllTransitivelyReferencedResourceURNs).
          ...(previous ? { after: Object.values(previous.containers) } : {}),
        },
        provider ? { providers: [provider] } : undefined,
      ),
    );
  }
  return {
    relays,
    providers,
    iceServersUrls: pulumi.all(relays.map((r) => r.iceServersUrl)),
  };
}
