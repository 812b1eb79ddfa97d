/**
 * The STUN/TURN client the service's readiness probe and `turnkey check` share: message
 * framing (message.ts), one connection over UDP, TCP or TLS (transport.ts), Allocate, Refresh,
 * CreatePermission and Send/Data (client.ts), a plain binding (probe.ts), and what a failure
 * means to the person who has to fix it (diagnosis.ts).
 */
export {
  type AddressFamily,
  type AllocateOptions,
  type Allocation,
  allocate,
  familyOf,
  type StunTransport,
  type TransportAddress,
  TurnError,
  type TurnFailure,
} from './client';
export {
  type Diagnosis,
  diagnose,
  diagnosisLine,
  ipv6RelayedByDefault,
  relayedAddressMismatch,
} from './diagnosis';
export { type Binding, bindStun, probeStun } from './probe';
