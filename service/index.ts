/**
 * The provider library, for apps that mint ICE servers in-process instead of calling
 * the HTTP service.
 */

export {
  CREDENTIAL_TTL,
  type IceUri,
  PROVIDERS,
  parseIceUri,
  type RelayEnv,
  SERVICE_DEFAULTS,
  type ServiceEnv,
} from '../contract';
export { type CheckOptions, type CheckReport, runCheck } from './check/run';
export { ConfigError, loadConfig, type ServiceConfig } from './config';
export { type CoturnOptions, CoturnProvider, turnRestCredential } from './providers/coturn';
export { createProvider, type MeteredKey, type ProviderConfig } from './providers/create';
export { InvalidInputError, UpstreamError } from './providers/errors';
export {
  type FleetOptions,
  FleetProvider,
  type FleetRelay,
  type ProbeVerdict,
  type RelayHealth,
} from './providers/fleet';
export { type MeteredOptions, MeteredProvider } from './providers/metered';
export { type StunOptions, StunProvider } from './providers/stun';
export type {
  GetIceServersOptions,
  IceServer,
  IceServers,
  ProviderName,
  ReadyState,
  TurnProvider,
} from './providers/types';
export { type RunningService, startService } from './start';
export {
  type AllocateOptions,
  type Allocation,
  allocate,
  TurnError,
  type TurnFailure,
} from './turn/client';
export { type Diagnosis, diagnose } from './turn/diagnosis';
export { type Binding, bindStun, probeStun } from './turn/probe';
