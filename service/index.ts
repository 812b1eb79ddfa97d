/**
 * The provider library, for apps that mint ICE servers in-process instead of calling
 * the HTTP service.
 */

export { type CheckOptions, type CheckReport, runCheck } from './check/run';
export { ConfigError, loadConfig, type ProviderConfig, type ServiceConfig } from './config';
export { type IceUri, parseIceUri } from './ice-uris';
export { type CoturnOptions, CoturnProvider, turnRestCredential } from './providers/coturn';
export { InvalidInputError, UpstreamError } from './providers/errors';
export { createProvider } from './providers/from-config';
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
export { type Binding, bindStun, probeStun } from './stun-probe';
export {
  type AllocateOptions,
  type Allocation,
  allocate,
  TurnError,
  type TurnFailure,
} from './turn-client';
export { type Diagnosis, diagnose } from './turn-diagnosis';
