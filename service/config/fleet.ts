import { type FleetRelay, REGION_LABEL } from '../../contract';
import { ConfigError } from './errors';
import { iceUri as uri } from './read';

/**
 * TURN_RELAYS and TURN_DEFAULT_REGION (README "Environment"): the relays of a fleet, as the
 * Pulumi program sets them on every credential service. Errors name the variable and the entry.
 */

export interface FleetEnv {
  relays: FleetRelay[];
  defaultRegion: string;
}

type Env = Readonly<Record<string, string | undefined>>;

const EXAMPLE =
  '[{"region":"eu-west","urls":["turn:eu.turn.example.com:3478?transport=udp"]},{"region":"us-east","urls":["turn:us.turn.example.com:3478?transport=udp"]}]';
const FIELDS = ['region', 'urls', 'probeUrl'];
/** With TURN_RELAYS each relay's URIs are in it; these would say something else. */
const SINGLE_RELAY_VARS = ['TURN_URLS', 'TURN_URL', 'TURN_PROBE_URL', 'STUN_URLS'];

const set = (env: Env, name: string) => (env[name]?.trim() ?? '') !== '';

function relay(entry: unknown, i: number): FleetRelay {
  const name = `TURN_RELAYS[${i}]`;
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
    throw new ConfigError(`${name} must be an object {"region":…,"urls":[…]}, e.g. ${EXAMPLE}`);
  const e = entry as Record<string, unknown>;
  const unknown = Object.keys(e).find((k) => !FIELDS.includes(k));
  if (unknown)
    throw new ConfigError(`${name}.${unknown} is not a relay field: use ${FIELDS.join(', ')}`);
  if (typeof e.region !== 'string' || !REGION_LABEL.test(e.region))
    throw new ConfigError(
      `${name}.region must be a region label of lowercase letters, digits and '-' (e.g. eu-west)`,
    );
  if (!Array.isArray(e.urls) || e.urls.length === 0)
    throw new ConfigError(`${name}.urls must list the relay's turn: URIs, e.g. ${EXAMPLE}`);
  const urls = e.urls.map((u, j) => uri(`${name}.urls[${j}]`, u, ['turn', 'turns']));
  if (!urls.some((u) => u.startsWith('turn:')))
    throw new ConfigError(
      `${name}.urls needs at least one plain turn: URI (the health probe allocates on it)`,
    );
  return {
    region: e.region,
    urls,
    ...(e.probeUrl === undefined
      ? {}
      : { probeUrl: uri(`${name}.probeUrl`, e.probeUrl, ['turn']) }),
  };
}

/** The fleet's relays, or undefined without TURN_RELAYS (one relay: TURN_URLS). */
export function readFleetEnv(env: Env): FleetEnv | undefined {
  if (!set(env, 'TURN_RELAYS')) {
    if (set(env, 'TURN_DEFAULT_REGION'))
      throw new ConfigError(
        'TURN_DEFAULT_REGION is set without TURN_RELAYS: unset it, or list the relays in TURN_RELAYS',
      );
    return undefined;
  }
  const both = SINGLE_RELAY_VARS.find((v) => set(env, v));
  if (both)
    throw new ConfigError(
      `${both} and TURN_RELAYS are both set: with TURN_RELAYS every relay's URIs are in it (STUN from the same hosts); unset ${both}`,
    );
  let list: unknown;
  try {
    list = JSON.parse(env.TURN_RELAYS as string);
  } catch {
    throw new ConfigError(`TURN_RELAYS must be a JSON list of relays, e.g. ${EXAMPLE}`);
  }
  if (!Array.isArray(list) || list.length === 0)
    throw new ConfigError(`TURN_RELAYS must be a non-empty JSON list of relays, e.g. ${EXAMPLE}`);
  const relays = list.map(relay);
  const regions = [...new Set(relays.map((r) => r.region))];
  const defaultRegion = env.TURN_DEFAULT_REGION?.trim() || (relays[0] as FleetRelay).region;
  if (!regions.includes(defaultRegion))
    throw new ConfigError(
      `TURN_DEFAULT_REGION "${defaultRegion}" has no relay in TURN_RELAYS: use one of ${regions.join(', ')}`,
    );
  return { relays, defaultRegion };
}
