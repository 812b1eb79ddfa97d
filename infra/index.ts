import * as pulumi from '@pulumi/pulumi';
import { type ConfigSource, SECRET_KEYS, StackConfigError } from './config';
import { readFleetConfig } from './fleet';
import { deployFleet } from './fleet-deploy';

/**
 * The stack entry point: read turnkey:* config, deploy the relays (one, or turnkey:relays),
 * export the first one's endpoints and every host's iceServersUrl.
 */

const cfg = new pulumi.Config('turnkey');
const isSecretKey = (key: string) => (SECRET_KEYS as readonly string[]).includes(key);
// Whether the CLI stored a key encrypted. Internal to the SDK (runtime/config.js, stripped from
// its typings) but the only record of it the program gets (PULUMI_CONFIG_SECRET_KEYS).
const { isConfigSecret } = pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean };
const source: ConfigSource = {
  get: (key) => cfg.get(key),
  has: (key) => (isSecretKey(key) ? cfg.getSecret(key) : cfg.get(key)) !== undefined,
  ...(isConfigSecret ? { isSecret: (key: string) => isConfigSecret(`turnkey:${key}`) } : {}),
};

/** readFleetConfig over this stack's config; a config error ends the preview as one line. */
function readThisStack() {
  try {
    return readFleetConfig(source);
  } catch (err) {
    // A RunError is shown as its message alone, without a stack trace.
    if (err instanceof StackConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

const deployed = deployFleet(readThisStack(), (key) => cfg.requireSecret(key));
const relay = deployed.relays[0] as (typeof deployed.relays)[number];

export const iceServersUrls = deployed.iceServersUrls;
export const iceServersUrl = relay.iceServersUrl;
export const apiToken = relay.apiToken;
export const provider = relay.provider;
export const turnUris = relay.turnUris;
export const stunUris = relay.stunUris;
