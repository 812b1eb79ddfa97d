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
      return new StunProvider({ stunUrls: config.stunUrls, maxTtl: config.ttl });
    case 'coturn':
      if (config.fleet)
        return new FleetProvider({
          secret: config.secret,
          relays: config.fleet.relays,
          defaultRegion: config.fleet.defaultRegion,
          maxTtl: config.ttl,
          hashUserIds: config.hashUserIds,
          ...(hooks.onHealthChange ? { onHealthChange: hooks.onHealthChange } : {}),
        });
      return new CoturnProvider({
        secret: config.secret,
        turnUrls: config.turnUrls,
        stunUrls: config.stunUrls,
        maxTtl: config.ttl,
        ...(config.probeUrl ? { probeUrl: config.probeUrl } : {}),
        hashUserIds: config.hashUserIds,
      });
    case 'metered':
      return new MeteredProvider({
        apiUrl: config.apiUrl,
        ...('secretKey' in config
          ? { secretKey: config.secretKey }
          : { credentialApiKey: config.credentialApiKey }),
        credentialTtl: config.ttl,
        timeoutMs: config.timeoutMs,
        ...(config.region ? { region: config.region } : {}),
        label: config.label,
        ...(hooks.onUpstreamCall ? { onUpstreamCall: hooks.onUpstreamCall } : {}),
      });
  }
}
