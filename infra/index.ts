/**
 * The Pulumi side as a library (`turnkey/infra`), without side effects: reading stack settings
 * (stack/), the deployment as plain data (plan/), and the resources that deploy it
 * (resources/). The stack's own program is program.ts.
 */

export { ensureServiceBundle, SERVICE_BUNDLE } from './build/bundle';
export {
  type ContainerPlan,
  DEFAULT_PLATFORM,
  type DeploymentPlan,
  type ImagePlan,
  type PlanOptions,
  planDeployment,
  type Role,
  type SecretFilePlan,
  type SecretName,
  stunUris,
  turnUris,
  type VolumeMountPlan,
  type VolumePlan,
} from './plan/deployment';
export {
  type FleetPlan,
  fleetRelayNames,
  fleetRelays,
  type HostPlan,
  hostConfig,
  planFleet,
  planFleetHost,
} from './plan/fleet';
export { type DeployedFleet, deployFleet } from './resources/fleet';
export {
  type FleetMemberArgs,
  type ProviderArgs,
  relayConfig,
  stackRelayArgs,
  type TlsArgs,
  TurnkeyRelay,
  type TurnkeyRelayArgs,
} from './resources/relay';
export { fail, StackConfigError } from './stack/errors';
export { DEFAULT_REGION, type FleetConfig, type RelayHost, readFleetConfig } from './stack/fleet';
export { pulumiSource } from './stack/pulumi-source';
export {
  checkExternalIp,
  checkPublicHost,
  defaultRealm,
  readStackConfig,
  SECRET_KEYS,
  STACK_DEFAULTS,
  type StackConfig,
} from './stack/read';
export { type ConfigSource, valuesSource } from './stack/source';
