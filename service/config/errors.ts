/**
 * A problem with the service's environment: the message names the variable and how to fix it,
 * and never its value.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
