import * as pulumi from '@pulumi/pulumi';
import { SECRET_STACK_KEYS } from '../../contract';
import type { ConfigSource } from './source';

const isSecretKey = (key: string) => (SECRET_STACK_KEYS as readonly string[]).includes(key);

/** The stack's own `turnkey:*` config as a ConfigSource. */
export function pulumiSource(cfg: pulumi.Config): ConfigSource {
  // Whether the CLI stored a key encrypted. Internal to the SDK (runtime/config.js, stripped
  // from its typings) but the only record of it the program gets (PULUMI_CONFIG_SECRET_KEYS).
  const { isConfigSecret } = pulumi.runtime as unknown as {
    isConfigSecret?: (k: string) => boolean;
  };
  return {
    get: (key) => cfg.get(key),
    has: (key) => (isSecretKey(key) ? cfg.getSecret(key) : cfg.get(key)) !== undefined,
    ...(isConfigSecret ? { isSecret: (key: string) => isConfigSecret(`${cfg.name}:${key}`) } : {}),
  };
}
