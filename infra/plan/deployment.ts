import { join } from 'node:path';
import { defaultOf } from '../../contract';
import type { StackConfig } from '../stack/read';
import { iceServersUrl, stunUris, turnUris } from './common';
import { coturnContainer, relaySecretsVolume } from './relay';
import { acmeStateVolume, revocationsVolume, serviceContainer } from './service';
import type {
  ContainerPlan,
  DeploymentPlan,
  ImagePlan,
  PlanOptions,
  SecretName,
  VolumePlan,
} from './types';

/** One relay host's plan: the images and containers `pulumi up` creates there. */

export { stunUris, turnUris } from './common';
export * from './types';

/** Used when turnkey:platform is unset: most Docker hosts (and clouds' cheapest VMs) are amd64. */
export const DEFAULT_PLATFORM = defaultOf('platform') as string;

const NAME = /^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/;

export function planDeployment(config: StackConfig, opts: PlanOptions): DeploymentPlan {
  const { stack, projectRoot, name = 'turnkey' } = opts;
  if (!NAME.test(name))
    throw new Error(
      `a relay's name names its containers and images: use lowercase letters, digits and '-' (at most 42), got "${name}"`,
    );
  const prefix = `${name}-${stack}`;
  const platform = config.platform ?? DEFAULT_PLATFORM;
  const service: ImagePlan = {
    role: 'service',
    imageName: `${name}-service:${stack}`,
    dockerfile: join(projectRoot, 'service/Dockerfile'),
    context: projectRoot,
    buildArgs: config.nodeImage ? { NODE_IMAGE: config.nodeImage } : {},
    platform,
  };
  const images: ImagePlan[] = [service];
  // The service first: it writes the relay's secret files, which the relay waits for.
  const containers: ContainerPlan[] = [serviceContainer(config, prefix, opts.fleet)];
  const volumes: VolumePlan[] = [
    ...(config.acme ? [acmeStateVolume(prefix)] : []),
    revocationsVolume(prefix),
  ];
  const secrets: SecretName[] = ['apiToken'];

  if (config.provider === 'coturn') {
    images.unshift({
      role: 'coturn',
      imageName: `${name}-coturn:${stack}`,
      dockerfile: join(projectRoot, 'coturn/Dockerfile.coturn'),
      context: join(projectRoot, 'coturn'),
      buildArgs: config.coturnImage ? { COTURN_IMAGE: config.coturnImage } : {},
      platform,
    });
    volumes.push(relaySecretsVolume(prefix));
    containers.push(coturnContainer(config, prefix, (opts.fleet?.relays.length ?? 0) > 1));
    secrets.push('turnSecret');
    if (config.secretGeneration > 1) secrets.push('previousTurnSecret');
  }
  if (config.tls && !config.acme) secrets.push('tlsCert', 'tlsKey');
  if (config.acme?.caCert !== undefined) secrets.push('acmeCaCert');
  if (config.provider === 'metered') secrets.push(config.meteredKey ?? 'meteredApiKey');

  return {
    stack,
    provider: config.provider,
    secrets,
    images,
    volumes,
    containers,
    outputs: {
      iceServersUrl: iceServersUrl(config),
      provider: config.provider,
      turnUris: turnUris(config),
      stunUris: stunUris(config),
    },
  };
}
