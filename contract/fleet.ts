/**
 * A fleet as the credential service knows it: TURN_RELAYS, one entry per relay, which the plan
 * writes (infra/plan/fleet.ts) and the service reads (service/config/fleet.ts) into its
 * FleetProvider.
 */

/**
 * A fleet's region label (`turnkey:relays[i].region`, TURN_RELAYS, `?region=`): lowercase
 * letters, digits and `-`, starting with a letter, at most 24 (it also names the relay's
 * containers, `turnkey-<region>-<stack>-coturn`, which Docker limits).
 */
export const REGION_LABEL = /^[a-z][a-z0-9-]{0,23}$/;

/** One entry of TURN_RELAYS. */
export interface FleetRelay {
  /** Label apps pass as `region` (e.g. `eu-west`). */
  region: string;
  /** Its `turn:`/`turns:` URIs as handed to browsers. */
  urls: string[];
  /** Where to probe it instead of its first plain turn: URI (the service's own relay: loopback). */
  probeUrl?: string;
}
