import { resolve } from 'node:path';
import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import type { StackConfig } from './config';
import { type DeploymentPlan, planDeployment, type Role, type SecretName } from './deployment';

export interface TurnkeyRelayArgs {
  /** Validated settings; build them with readStackConfig or by hand. */
  config: StackConfig;
  /** Metered's secret key: required with provider metered, unless config.meteredKey says otherwise. */
  meteredApiKey?: pulumi.Input<string>;
  /** One Metered credential's apiKey: required when config.meteredKey is `meteredCredentialApiKey`. */
  meteredCredentialApiKey?: pulumi.Input<string>;
  /** PEM certificate chain and key for turns: and the service's HTTPS, when config.tls is set. */
  tlsCert?: pulumi.Input<string>;
  tlsKey?: pulumi.Input<string>;
  /** Names containers and image tags; defaults to the Pulumi stack. */
  stack?: string;
  /** Where the Dockerfiles live; defaults to this repository. */
  projectRoot?: string;
}

/**
 * A TURN relay and its credential service on one Docker host (the `docker:host` of the
 * stack, or the Docker provider passed in opts): generated secrets, two locally built
 * images, two host-network containers. Another Pulumi program can deploy one in a few lines:
 *
 *   new TurnkeyRelay('relay', { config: { ...settings } });
 */
export class TurnkeyRelay extends pulumi.ComponentResource {
  readonly plan: DeploymentPlan;
  readonly iceServersUrl: pulumi.Output<string>;
  readonly apiToken: pulumi.Output<string>;
  readonly provider: pulumi.Output<string>;
  readonly turnUris: pulumi.Output<string[]>;
  readonly stunUris: pulumi.Output<string[]>;
  /** Every secret handed to a container, by name (all Pulumi secrets). */
  readonly secrets: Partial<Record<SecretName, pulumi.Output<string>>>;
  readonly images: Partial<Record<Role, docker.Image>> = {};
  readonly containers: Partial<Record<Role, docker.Container>> = {};

  constructor(name: string, args: TurnkeyRelayArgs, opts?: pulumi.ComponentResourceOptions) {
    super('turnkey:index:Relay', name, {}, opts);
    const child = { parent: this };
    const plan = planDeployment(args.config, {
      stack: args.stack ?? pulumi.getStack(),
      projectRoot: args.projectRoot ?? resolve(__dirname, '..'),
    });
    this.plan = plan;
    this.secrets = this.makeSecrets(name, plan, args);

    for (const image of plan.images) {
      this.images[image.role] = new docker.Image(
        `${name}-${image.role}`,
        {
          imageName: image.imageName,
          skipPush: true,
          build: { context: image.context, dockerfile: image.dockerfile, args: image.buildArgs },
        },
        child,
      );
    }

    for (const c of plan.containers) {
      const image = this.images[c.image] as docker.Image;
      const uploads = c.files.map((f) => ({
        file: f.path,
        content: this.secrets[f.secret] as pulumi.Output<string>,
        owner: f.owner,
        group: f.group,
        permissions: f.mode,
      }));
      this.containers[c.role] = new docker.Container(
        `${name}-${c.role}`,
        {
          name: c.name,
          // For a local image this is its ID, so a rebuilt image replaces the container.
          image: image.repoDigest,
          networkMode: c.networkMode,
          envs: Object.entries(c.env).map(([k, v]) => `${k}=${v}`),
          uploads,
          restart: c.restart,
          healthcheck: {
            tests: c.healthcheck.test,
            interval: c.healthcheck.interval,
            timeout: c.healthcheck.timeout,
            startPeriod: c.healthcheck.startPeriod,
            retries: c.healthcheck.retries,
          },
          logDriver: c.logDriver,
          logOpts: c.logOptions,
          tmpfs: c.tmpfs,
          capabilities: { drops: c.capabilities.drop, adds: c.capabilities.add },
          securityOpts: c.securityOpts,
          // pulumi up fails, instead of reporting success, when a container never gets healthy.
          wait: true,
          waitTimeout: 90,
        },
        // The service's readiness probes the relay, so the relay goes first.
        {
          ...child,
          dependsOn: c.role === 'service' && this.containers.coturn ? [this.containers.coturn] : [],
        },
      );
    }

    this.iceServersUrl = pulumi.output(plan.outputs.iceServersUrl);
    this.apiToken = this.secrets.apiToken as pulumi.Output<string>;
    this.provider = pulumi.output(plan.outputs.provider);
    this.turnUris = pulumi.output(plan.outputs.turnUris);
    this.stunUris = pulumi.output(plan.outputs.stunUris);
    this.registerOutputs({
      iceServersUrl: this.iceServersUrl,
      apiToken: this.apiToken,
      provider: this.provider,
      turnUris: this.turnUris,
      stunUris: this.stunUris,
    });
  }

  private makeSecrets(name: string, plan: DeploymentPlan, args: TurnkeyRelayArgs) {
    const child = { parent: this };
    // Letters and digits only: valid in Coturn's config and in an Authorization header.
    // Wrapped explicitly so secrecy does not depend on the provider's additionalSecretOutputs.
    const password = (id: string) =>
      pulumi.secret(new random.RandomPassword(id, { length: 48, special: false }, child).result);
    const generation = args.config.secretGeneration;
    const secrets: Partial<Record<SecretName, pulumi.Output<string>>> = {};
    for (const secret of plan.secrets) {
      switch (secret) {
        case 'apiToken':
          secrets.apiToken = password(`${name}-api-token`);
          break;
        // One resource per generation: bumping the generation adds one and keeps the previous
        // (Coturn still accepts it) until the next bump removes it.
        case 'turnSecret':
          secrets.turnSecret = password(`${name}-turn-secret-gen${generation}`);
          break;
        case 'previousTurnSecret':
          secrets.previousTurnSecret = password(`${name}-turn-secret-gen${generation - 1}`);
          break;
        case 'meteredApiKey':
        case 'meteredCredentialApiKey':
        case 'tlsCert':
        case 'tlsKey': {
          const value = args[secret];
          if (value === undefined)
            throw new Error(`TurnkeyRelay: args.${secret} is required for this config`);
          secrets[secret] = pulumi.secret(value);
          break;
        }
      }
    }
    return secrets;
  }
}
