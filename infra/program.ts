import * as pulumi from '@pulumi/pulumi';
import { deployFleet } from './resources/fleet';
import { StackConfigError } from './stack/errors';
import { readFleetConfig } from './stack/fleet';
import { pulumiSource } from './stack/pulumi-source';

/**
 * The stack's program (Pulumi.yaml `main`): read turnkey:* config, deploy the relays (one, or
 * turnkey:relays), export the first one's endpoints and every host's iceServersUrl.
 */

const cfg = new pulumi.Config('turnkey');

/** readFleetConfig over this stack's config; a config error ends the preview as one line. */
function readThisStack() {
  try {
    return readFleetConfig(pulumiSource(cfg));
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
