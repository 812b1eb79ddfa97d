/**
 * The containers' environment as the plan writes it and the service (service/config/) and the
 * relay's entrypoint (coturn/entrypoint.sh) read it. The variable names come from the settings
 * table (contract/settings.ts); each env object is built as one typed literal, so a name
 * spelt differently from the table fails `tsc` (the literal's excess-property check).
 */

import type { ProviderName, RelayVar, ServiceVar } from './settings';

/**
 * The credential service container's environment. Every value is a string as the process
 * sees it; the planner leaves a name undefined to leave it unset.
 */
export type ServiceEnv = { [K in ServiceVar]?: string } & {
  TURN_PROVIDER?: ProviderName;
  TURN_HASH_USER_IDS?: 'true' | 'false';
};

/** The relay container's environment. */
export type RelayEnv = { [K in RelayVar]?: string };

/** Secrets the service reads from NAME or from the file named by NAME_FILE. */
export type ServiceSecretVar =
  Extract<ServiceVar, `${string}_FILE`> extends `${infer V}_FILE`
    ? Exclude<V, 'TLS_CERT' | 'TLS_KEY' | 'ACME_CA' | 'PEER_CA'>
    : never;

/**
 * An env object as a container gets it: the names that are set, each with its value. Their
 * order means nothing to the Docker provider (its `env` is a set: kreuzwerker
 * terraform-provider-docker, resource_docker_container.go, TypeSet with HashString).
 */
export function definedEnv(env: ServiceEnv | RelayEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value;
  return out;
}

/**
 * uid and gid of the relay image's user (coturn/Dockerfile.coturn's `nobody:nogroup`): owns
 * its private tmpfs, and the tests run turnserver as it.
 */
export const COTURN_UID = 65534;
/** Where the plan writes secret files into each container. */
export const SECRETS_DIR = '/run/secrets';
/** The relay's tmpfs for its private config (TURN_RUNTIME_DIR). */
export const RELAY_RUNTIME_DIR = '/run/turnkey';
/** uid of the service image's user (service/Dockerfile): owns the relay secrets volume. */
export const SERVICE_UID = 10001;
/**
 * Where the relay's secret files are, in both containers: an in-memory volume the service
 * writes (RELAY_SECRETS_DIR) and the relay reads, so new ones reach a running relay.
 */
export const RELAY_SECRETS_DIR = '/run/relay-secrets';
/** The files in RELAY_SECRETS_DIR, by what they hold. */
export const RELAY_SECRET_FILES = {
  turnSecret: 'turn-secret',
  previousTurnSecret: 'turn-secret-previous',
  tlsCert: 'tls-cert.pem',
  tlsKey: 'tls-key.pem',
  cliPassword: 'cli-password',
} as const;
/**
 * ACME_STATE_DIR as the stack mounts it: a volume of the service's own (the image creates the
 * directory owned by SERVICE_UID, so a new volume starts with that owner).
 */
export const ACME_STATE_DIR = '/var/lib/turnkey/acme';
/** REVOCATIONS_DIR as the stack mounts it: a volume of the service's own, like ACME_STATE_DIR. */
export const REVOCATIONS_DIR = '/var/lib/turnkey/revocations';
/** The files in ACME_STATE_DIR, by what they hold. */
export const ACME_STATE_FILES = {
  accountKey: 'account-key.pem',
  account: 'account.json',
  certificate: 'certificate.pem',
  certificateKey: 'certificate-key.pem',
  certificateMeta: 'certificate.json',
} as const;
