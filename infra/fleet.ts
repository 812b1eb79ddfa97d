import { REGION_LABEL } from '../service/region';
import {
  type ConfigSource,
  checkExternalIp,
  checkPublicHost,
  fail,
  readStackConfig,
  type StackConfig,
  StackConfigError,
} from './config';
import { type DeploymentPlan, type PlanOptions, planDeployment, turnUris } from './deployment';

/**
 * A relay fleet from one stack (`turnkey:relays`): one relay and credential service per Docker
 * host, one TURN secret and API token for all. Pure, like config.ts and deployment.ts: the
 * fleet plan is the per-host plans of planDeployment, which the Pulumi program deploys and the
 * tests realise.
 */

/** One entry of `turnkey:relays`. */
export interface RelayHost {
  /**
   * The Docker provider's host, e.g. `ssh://deploy@eu.turn.example.com`. Only the first relay
   * may leave it unset: it then deploys through the stack's own provider (`docker:host`), so a
   * single-host stack becomes a fleet without replacing its relay.
   */
  dockerHost?: string;
  /** Host or IP browsers use to reach this relay. */
  publicHost: string;
  /** PUBLIC/PRIVATE when this host sits behind 1:1 NAT. */
  externalIp?: string;
  /** A label the app backend passes as `region` (e.g. `eu-west`): lowercase letters, digits, `-`. */
  region: string;
}

export interface FleetConfig {
  /** The stack's settings; publicHost and externalIp are the first relay's. */
  config: StackConfig;
  relays: RelayHost[];
}

/** What each credential service knows about every relay (its `TURN_RELAYS`). */
export interface FleetRelayEnv {
  region: string;
  urls: string[];
  /** Only the service's own relay: probed on its host, not through the public address. */
  probeUrl?: string;
}

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

/** The region of the fleet of one the single-host keys make. */
export const DEFAULT_REGION = 'default';
const DOCKER_HOST = /^(ssh|tcp|unix|npipe):\/\/\S+$/;
const FIELDS = ['dockerHost', 'publicHost', 'externalIp', 'region'];
/** Settings that name one host's own addresses: they cannot hold for every host of a fleet. */
const SINGLE_HOST_KEYS = ['publicHost', 'externalIp', 'listeningIps', 'serviceHost'];
const EXAMPLE = [
  "pulumi config set --path 'turnkey:relays[0].publicHost' eu.turn.example.com",
  "pulumi config set --path 'turnkey:relays[0].region' eu-west",
  "pulumi config set --path 'turnkey:relays[1].dockerHost' ssh://deploy@us.turn.example.com",
].join('; ');

function relayField(entry: Record<string, unknown>, i: number, field: string): string | undefined {
  const value = entry[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '')
    fail(`relays[${i}].${field}`, `must be a non-empty string, got ${JSON.stringify(value)}`, '…');
  return value.trim();
}

function readRelay(entry: unknown, i: number): RelayHost {
  const key = (f: string) => `relays[${i}].${f}`;
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
    throw new StackConfigError(
      `turnkey:relays[${i}] must be an object with dockerHost, publicHost, region (and externalIp behind 1:1 NAT): e.g. ${EXAMPLE}`,
    );
  const fields = entry as Record<string, unknown>;
  const unknown = Object.keys(fields).find((f) => !FIELDS.includes(f));
  if (unknown)
    throw new StackConfigError(
      `turnkey:relays[${i}].${unknown} is not a relay setting (each relay has ${FIELDS.join(', ')}): run \`pulumi config rm --path 'turnkey:relays[${i}].${unknown}'\``,
    );
  const publicHost = relayField(fields, i, 'publicHost');
  if (publicHost === undefined)
    fail(
      key('publicHost'),
      'is required (the host or IP browsers use to reach it)',
      'turn.example.com',
    );
  const region = relayField(fields, i, 'region');
  if (region === undefined || !REGION_LABEL.test(region))
    fail(
      key('region'),
      region === undefined
        ? 'is required (the label apps pass as region to get the nearest relay)'
        : `must be lowercase letters, digits and '-', at most 24, starting with a letter, got "${region}"`,
      'eu-west',
    );
  const dockerHost = relayField(fields, i, 'dockerHost');
  if (dockerHost === undefined && i > 0)
    fail(
      key('dockerHost'),
      'is required (only the first relay may use the stack’s docker:host)',
      'ssh://deploy@turn.example.com',
    );
  if (dockerHost !== undefined && !DOCKER_HOST.test(dockerHost))
    fail(
      key('dockerHost'),
      `must be a Docker host like ssh://user@host, tcp://host:2376 or unix:///var/run/docker.sock, got "${dockerHost}"`,
      'ssh://deploy@turn.example.com',
    );
  const externalIp = relayField(fields, i, 'externalIp');
  return {
    publicHost: checkPublicHost(publicHost, key('publicHost')),
    region,
    ...(dockerHost ? { dockerHost } : {}),
    ...(externalIp ? { externalIp: checkExternalIp(externalIp, key('externalIp')) } : {}),
  };
}

function parseRelays(raw: string): RelayHost[] {
  let list: unknown;
  try {
    list = JSON.parse(raw);
  } catch {
    throw new StackConfigError(
      `turnkey:relays is not structured config (a list of relays): set it with --path, e.g. ${EXAMPLE}`,
    );
  }
  if (!Array.isArray(list) || list.length === 0)
    throw new StackConfigError(
      `turnkey:relays must be a non-empty list of relays: set it with --path, e.g. ${EXAMPLE}`,
    );
  const relays = list.map(readRelay);
  // Host networking and fixed ports: two relays on one engine or one address would collide.
  for (const field of ['dockerHost', 'publicHost'] as const) {
    const seen = new Map<string, number>();
    for (const [i, r] of relays.entries()) {
      const value = r[field];
      if (value === undefined) continue;
      const other = seen.get(value);
      if (other !== undefined)
        fail(
          `relays[${i}].${field}`,
          `("${value}") is also relays[${other}].${field}: each relay needs its own Docker host and address`,
          i === 0 ? '…' : `<relay ${i}'s ${field}>`,
        );
      seen.set(value, i);
    }
  }
  return relays;
}

/** `turnkey:*` with `turnkey:relays`; without it, the single-host keys as a fleet of one. */
export function readFleetConfig(src: ConfigSource): FleetConfig {
  const raw = src.get('relays');
  if (raw === undefined) {
    const config = readStackConfig(src);
    const relay: RelayHost = { publicHost: config.publicHost, region: DEFAULT_REGION };
    if (config.externalIp) relay.externalIp = config.externalIp;
    return { config, relays: [relay] };
  }
  const relays = parseRelays(raw);
  const single = SINGLE_HOST_KEYS.find((k) => src.get(k) !== undefined);
  if (single)
    throw new StackConfigError(
      `turnkey:${single} names one host's address, and turnkey:relays is set: ${
        single === 'publicHost' || single === 'externalIp'
          ? `give each relay its own in turnkey:relays[i].${single}`
          : 'a fleet binds its default addresses on every host'
      }: run \`pulumi config rm turnkey:${single}\``,
    );
  const first = relays[0] as RelayHost;
  const config = readStackConfig({
    ...src,
    get: (k) =>
      k === 'publicHost' ? first.publicHost : k === 'externalIp' ? first.externalIp : src.get(k),
    has: (k) => src.has(k),
  });
  if (config.provider !== 'coturn')
    throw new StackConfigError(
      `turnkey:relays deploys Coturn relays, and turnkey:provider is ${config.provider}: run \`pulumi config set turnkey:provider coturn\` or \`pulumi config rm turnkey:relays\``,
    );
  return { config, relays };
}

/**
 * Relay 0 keeps the single-host names (`turnkey`), so a stack that grows into a fleet keeps its
 * relay; the others are named after their region (`turnkey-us-east`, then `turnkey-us-east-2`).
 */
export function fleetRelayNames(relays: RelayHost[], base = 'turnkey'): string[] {
  const count = new Map<string, number>();
  return relays.map((r, i) => {
    if (i === 0) return base;
    const n = (count.get(r.region) ?? 0) + 1;
    count.set(r.region, n);
    return n === 1 ? `${base}-${r.region}` : `${base}-${r.region}-${n}`;
  });
}

/** The stack config as it holds on one host of the fleet. */
export function hostConfig(config: StackConfig, relay: RelayHost): StackConfig {
  const { externalIp: _, ...shared } = config;
  return {
    ...shared,
    publicHost: relay.publicHost,
    ...(relay.externalIp ? { externalIp: relay.externalIp } : {}),
  };
}

/** TURN_RELAYS for the service on relay `self`: its own relay first (probed on its host), then the others in stack order. */
export function fleetRelaysEnv(
  config: StackConfig,
  relays: RelayHost[],
  self: number,
  ownProbeUrl: string | undefined,
): FleetRelayEnv[] {
  const entry = (r: RelayHost): FleetRelayEnv => ({
    region: r.region,
    urls: turnUris(hostConfig(config, r)),
  });
  const own = {
    ...entry(relays[self] as RelayHost),
    ...(ownProbeUrl ? { probeUrl: ownProbeUrl } : {}),
  };
  return [own, ...relays.filter((_, i) => i !== self).map(entry)];
}

/**
 * One host of the fleet: planDeployment for that host's config; with more than one relay, its
 * service also learns every relay (TURN_RELAYS) and its own region (TURN_DEFAULT_REGION), and
 * stops listing a single relay in TURN_URLS.
 */
export function planFleetHost(
  fleet: FleetConfig,
  index: number,
  opts: PlanOptions & { name: string },
): HostPlan {
  const relay = fleet.relays[index];
  if (!relay) throw new Error(`the fleet has no relay ${index}`);
  const { name } = opts;
  const plan = planDeployment(hostConfig(fleet.config, relay), opts);
  if (fleet.relays.length > 1) {
    const service = plan.containers.find((c) => c.role === 'service');
    if (service) {
      const { TURN_URLS: _u, STUN_URLS: _s, TURN_PROBE_URL: probeUrl, ...env } = service.env;
      service.env = {
        ...env,
        TURN_RELAYS: JSON.stringify(fleetRelaysEnv(fleet.config, fleet.relays, index, probeUrl)),
        TURN_DEFAULT_REGION: relay.region,
      };
    }
  }
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
