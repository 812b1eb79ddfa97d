import type { ProviderConfig } from '../config';
import { CoturnProvider } from './coturn';
import { type FleetOptions, FleetProvider } from './fleet';
import { type MeteredOptions, MeteredProvider } from './metered';
import { StunProvider } from './stun';
import type { TurnProvider } from './types';

export function createProvider(
  config: ProviderConfig,
  hooks: Pick<MeteredOptions, 'onUpstreamCall'> & Pick<FleetOptions, 'onHealthChange'> = {},
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
        });
      return new CoturnProvider({
        secret: config.secret,
        turnUris: config.turnUris,
        stunUris: config.stunUris,
        credentialTtl: config.credentialTtl,
        ...(config.probeUri ? { probeUri: config.probeUri } : {}),
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
