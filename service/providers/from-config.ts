import type { ProviderConfig } from '../config';
import { CoturnProvider } from './coturn';
import { type MeteredOptions, MeteredProvider } from './metered';
import { StunProvider } from './stun';
import type { TurnProvider } from './types';

export function createProvider(
  config: ProviderConfig,
  hooks: Pick<MeteredOptions, 'onUpstreamCall'> = {},
): TurnProvider {
  switch (config.provider) {
    case 'stun':
      return new StunProvider({ stunUrls: config.stunUrls, maxTtl: config.ttl });
    case 'coturn':
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
        ...hooks,
      });
  }
}
