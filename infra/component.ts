import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import { ensureServiceBundle } from './bundle';
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
  /** Names containers and image tags, with the component's name; defaults to the Pulumi stack. */
  stack?: string;
  /** Where the Dockerfiles live; defaults to this package (a checkout or node_modules/turnkey). */
  projectRoot?: string;
}

/** This package's root, from infra/ in a checkout or dist/infra/ in an installed package. */
const PACKAGE_ROOT = [resolve(__dirname, '..'), resolve(__dirname, '../..')].find((dir) =>
  existsSync(join(dir, 'coturn/Dockerfile.coturn')),
) as string;

/**
 * Relative to the working directory, where both this program and the Docker provider run (the
 * program directory: pulumi/pulumi pkg/engine ProjectInfoContext gives plugins the pwd of
 * getPwdMain). The provider records the paths as inputs, so absolute ones would make every
 * other checkout path look like a changed image.
 */
const fromCwd = (path: string) => relative(process.cwd(), path) || '.';

/**
 * What the Docker provider's Container needs to make every change take effect (its upstream is
 * the Terraform docker_container, kreuzwerker/terraform-provider-docker,
 * internal/provider/resource_docker_container*.go):
 * - healthcheck and tmpfs are not ForceNew and Update changes only restart and resources, so a
 *   change to them would be shown as an update that changes nothing: replace instead;
 * - a failed health wait (`wait`) leaves the container in state with init errors, and the next
 *   `up` would only "update" it and report success; `#initerror` makes the engine replace it
 *   (pulumi/pulumi pkg/resource/deploy/step_generator.go, applyReplaceOnChanges);
 * - the name is fixed and the ports are the host's: the old container must go first.
 */
const CONTAINER_REPLACEMENT = {
  replaceOnChanges: ['healthcheck', 'tmpfs', '#initerror'],
  deleteBeforeReplace: true,
};

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
    const projectRoot = args.projectRoot ?? PACKAGE_ROOT;
    const plan = planDeployment(args.config, {
      stack: args.stack ?? pulumi.getStack(),
      projectRoot: fromCwd(projectRoot),
      name,
    });
    this.plan = plan;
    this.secrets = this.makeSecrets(name, plan, args);

    for (const image of plan.images) {
      if (image.role === 'service') ensureServiceBundle(resolve(projectRoot));
      this.images[image.role] = new docker.Image(
        `${name}-${image.role}`,
        {
          imageName: image.imageName,
          skipPush: true,
          build: {
            context: image.context,
            dockerfile: image.dockerfile,
            args: image.buildArgs,
            // Else the provider builds for the machine running Pulumi (provider/provider.go,
            // Check), e.g. arm64 from a Mac for an amd64 host.
            platform: image.platform,
          },
        },
        child,
      );
    }

    for (const c of plan.containers) {
      const image = this.images[c.image] as docker.Image;
      const uploads = c.files.map((f) => ({
        file: f.path,
        content: this.secrets[f.secret] as pulumi.Output<string>,
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
          // Docker's stop timeout and the provider's on delete (which is 0 s unless set).
          stopTimeout: c.stopGraceSeconds,
          destroyGraceSeconds: c.stopGraceSeconds,
        },
        // The service's readiness probes the relay, so the relay goes first.
        {
          ...child,
          ...CONTAINER_REPLACEMENT,
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
