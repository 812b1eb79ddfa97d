import { isIP } from 'node:net';
import { REGION_LABEL } from '../../contract';
import { fail, StackConfigError } from './errors';
import { checkExternalIp, checkPublicHost, readStackConfig, type StackConfig } from './read';
import type { ConfigSource } from './source';

/**
 * A relay fleet from one stack (`turnkey:relays`): one relay and credential service per Docker
 * host, one TURN secret and API token for all. Reading and checking the list; planning it is
 * infra/plan/fleet.ts.
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
  /**
   * The relay's stable identity: its Pulumi resources, containers and images are named after
   * it, never after its position, so reordering, removing or adding relays touches only those
   * added or removed. Only the first may leave it unset (it keeps the single-host names).
   */
  name?: string;
  /** This Docker host's platform, e.g. linux/arm64, where it differs from turnkey:platform. */
  platform?: string;
}

export interface FleetConfig {
  /** The stack's settings; publicHost and externalIp are the first relay's. */
  config: StackConfig;
  relays: RelayHost[];
}

/** The region of the fleet of one the single-host keys make. */
export const DEFAULT_REGION = 'default';
const DOCKER_HOST = /^(ssh|unix|npipe):\/\/\S+$/;
const FIELDS = ['name', 'dockerHost', 'publicHost', 'externalIp', 'region', 'platform'];
/** A relay's name goes into container and image names with the stack's: kept short and plain. */
export const RELAY_NAME = /^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$/;
const PLATFORM = /^linux\/[a-z0-9]+(\/v[0-9]+)?$/;
/** Settings that name one host's own addresses: they cannot hold for every host of a fleet. */
const SINGLE_HOST_KEYS = ['publicHost', 'externalIp', 'listeningIps', 'serviceHost'];
const EXAMPLE = [
  "pulumi config set --path 'turnkey:relays[0].publicHost' eu.turn.example.com",
  "pulumi config set --path 'turnkey:relays[0].region' eu-west",
  "pulumi config set --path 'turnkey:relays[1].name' us-east",
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
  // The fleet's provider gets only `host`: over tcp:// it would speak to the engine unencrypted
  // and unauthenticated (or with one certificate directory for every host, DOCKER_CERT_PATH),
  // which is root on that host for anyone on the path.
  if (dockerHost?.startsWith('tcp://'))
    fail(
      key('dockerHost'),
      `("${dockerHost}") is a TCP Docker API, which the fleet would reach without TLS: use ssh://user@host (encrypted and authenticated by the host's SSH key; the Docker provider tunnels the API through it)`,
      'ssh://deploy@turn.example.com',
    );
  if (dockerHost !== undefined && !DOCKER_HOST.test(dockerHost))
    fail(
      key('dockerHost'),
      `must be a Docker host like ssh://user@host or unix:///var/run/docker.sock, got "${dockerHost}"`,
      'ssh://deploy@turn.example.com',
    );
  const name = relayField(fields, i, 'name');
  if (name !== undefined && !RELAY_NAME.test(name))
    fail(
      key('name'),
      `must be lowercase letters, digits and '-', at most 24, not starting or ending with '-', got "${name}"`,
      region,
    );
  const platform = relayField(fields, i, 'platform');
  if (platform !== undefined && !PLATFORM.test(platform))
    fail(
      key('platform'),
      `must be a Linux platform like linux/amd64 or linux/arm64 (the Docker host's \`docker info\` OSType/Architecture), got "${platform}"`,
      'linux/arm64',
    );
  const externalIp = relayField(fields, i, 'externalIp');
  return {
    publicHost: checkPublicHost(publicHost, key('publicHost')),
    region,
    ...(name !== undefined ? { name } : {}),
    ...(platform !== undefined ? { platform } : {}),
    ...(dockerHost ? { dockerHost } : {}),
    ...(externalIp ? { externalIp: checkExternalIp(externalIp, key('externalIp')) } : {}),
  };
}

/**
 * The names the relays were deployed under before `name` existed: relay 0 the single-host
 * names, the others after their region, numbered within it in list order. What a missing name
 * is told to set, so that naming a relay keeps its resources.
 */
export function positionalNames(relays: RelayHost[]): (string | undefined)[] {
  const count = new Map<string, number>();
  return relays.map((r, i) => {
    if (i === 0) return undefined;
    const n = (count.get(r.region) ?? 0) + 1;
    count.set(r.region, n);
    return n === 1 ? r.region : `${r.region}-${n}`;
  });
}

/**
 * Every relay but the first needs its name: named by position, removing or reordering one
 * would rename the others, and the engine creates renamed resources before it deletes the old
 * ones (pulumi/pulumi pkg/resource/deploy: deletes of resources no longer registered run after
 * the program, step_generator.go GenerateDeletes), so the new containers would find the old
 * ones holding the host's ports.
 */
function requireNames(relays: RelayHost[]): void {
  const positional = positionalNames(relays);
  for (const [i, r] of relays.entries()) {
    if (i === 0 || r.name !== undefined) continue;
    throw new StackConfigError(
      `turnkey:relays[${i}].name is required: a stable name keeps each relay's resources when others are added, removed or reordered; "${positional[i]}" keeps the resources this relay was deployed with: run \`pulumi config set --path 'turnkey:relays[${i}].name' ${positional[i]}\``,
    );
  }
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
  requireNames(relays);
  // Host networking and fixed ports: two relays on one engine or one address would collide.
  for (const field of ['dockerHost', 'publicHost', 'name'] as const) {
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
  // Each host orders its own certificate, for its own name (the first was checked above).
  if (config.acme)
    for (const [i, r] of relays.entries())
      if (isIP(r.publicHost) !== 0)
        fail(
          `relays[${i}].publicHost`,
          `must be a DNS name with turnkey:acmeEmail (each host gets a certificate for its own name), got the address ${r.publicHost}`,
          `<relay ${i}'s DNS name>`,
        );
  return { config, relays };
}
