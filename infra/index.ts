import * as pulumi from '@pulumi/pulumi';
import { TurnkeyRelay } from './component';
import { type ConfigSource, readStackConfig, SECRET_KEYS, StackConfigError } from './config';

/** The stack entry point: read turnkey:* config, deploy one relay, export its endpoints. */

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

function loadConfig() {
  try {
    return readStackConfig(source);
  } catch (err) {
    // A RunError is shown as its message alone, without a stack trace.
    if (err instanceof StackConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

const config = loadConfig();
const relay = new TurnkeyRelay('turnkey', {
  config,
  ...(config.meteredKey ? { [config.meteredKey]: cfg.requireSecret(config.meteredKey) } : {}),
  ...(config.tls
    ? { tlsCert: cfg.requireSecret('tlsCert'), tlsKey: cfg.requireSecret('tlsKey') }
    : {}),
});

export const iceServersUrl = relay.iceServersUrl;
export const apiToken = relay.apiToken;
export const provider = relay.provider;
export const turnUris = relay.turnUris;
export const stunUris = relay.stunUris;
