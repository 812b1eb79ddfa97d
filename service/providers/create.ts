import { CoturnProvider } from './coturn';
import { type FleetOptions, FleetProvider, type FleetRelay } from './fleet';
import { type MeteredOptions, MeteredProvider } from './metered';
import { StunProvider } from './stun';
import type { TurnProvider } from './types';

/**
 * Which provider, with what its constructor needs: what service/config/ reads from the env, and
 * what an app that builds its provider from its own settings passes.
 */
export type ProviderConfig =
  | { provider: 'stun'; stunUris: string[]; credentialTtl: number }
  | {
      provider: 'coturn';
      secret: string;
      turnUris: string[];
      stunUris: string[];
      credentialTtl: number;
      probeUrl?: string;
      /** A keyed hash of the user id in the TURN username, not the id. */
      hashUserIds: boolean;
      /** Several relays (turnUris are then the first's). */
      fleet?: { relays: FleetRelay[]; defaultRegion: string };
    }
  | ({
      provider: 'metered';
      apiUrl: string;
      credentialTtl: number;
      timeoutMs: number;
      /** Metered region for the ICE server list; Metered's default if unset. */
      region?: string;
      /** Label on minted credentials. */
      label: string;
    } & MeteredKey);

/**
 * Metered's two kinds of key, never interchangeable: the account's secret key (mints and
 * deletes credentials) or one credential's apiKey (only lists that credential's ICE servers).
 */
export type MeteredKey = { secretKey: string } | { credentialApiKey: string };

export function createProvider(
  config: ProviderConfig,
  hooks: Pick<MeteredOptions, 'onUpstreamCall'> &
    Pick<FleetOptions, 'onHealthChange' | 'probeIntervalMs'> = {},
): TurnProvider {
  switch (config.provider) {
    case 'stun':
      return new StunProvider({ stunUris: config.stunUris, credentialTtl: config.credentialTtl });
    case 'coturn':
      if (config.fleet)
        return new FleetProvider({
          secret: config.secret,
          relays: config.fleet.relays,
          defaultRegion: config.fleet.defaultRegion,
          credentialTtl: config.credentialTtl,
          hashUserIds: config.hashUserIds,
          ...(hooks.onHealthChange ? { onHealthChange: hooks.onHealthChange } : {}),
          ...(hooks.probeIntervalMs ? { probeIntervalMs: hooks.probeIntervalMs } : {}),
        });
      return new CoturnProvider({
        secret: config.secret,
        turnUris: config.turnUris,
        stunUris: config.stunUris,
        credentialTtl: config.credentialTtl,
        ...(config.probeUrl ? { probeUrl: config.probeUrl } : {}),
        hashUserIds: config.hashUserIds,
      });
    case 'metered':
      return new MeteredProvider({
        apiUrl: config.apiUrl,
        ...('secretKey' in config
          ? { secretKey: config.secretKey }
          : { credentialApiKey: config.credentialApiKey }),
        credentialTtl: config.credentialTtl,
        timeoutMs: config.timeoutMs,
        ...(config.region ? { region: config.region } : {}),
        label: config.label,
        ...(hooks.onUpstreamCall ? { onUpstreamCall: hooks.onUpstreamCall } : {}),
      });
  }
}
