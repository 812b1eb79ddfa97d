import { relative, resolve } from 'node:path';
import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import { defaultOf } from '../../contract';
import { ensureServiceBundle } from '../build/bundle';
import { fixContextModes } from '../build/contexts';
import { PACKAGE_ROOT } from '../build/package-root';
import {
  type DeploymentPlan,
  planDeployment,
  type Role,
  type SecretName,
} from '../plan/deployment';
import { planFleetHost } from '../plan/fleet';
import type { FleetConfig } from '../stack/fleet';
import { defaultRealm, STACK_DEFAULTS, type StackConfig } from '../stack/read';

/** PEM certificate chain and unencrypted key for publicHost: they serve turns: and the API's HTTPS. */
export interface TlsArgs {
  cert: pulumi.Input<string>;
  key: pulumi.Input<string>;
}

/**
 * Automatic certificates for publicHost (turnkey:acmeEmail and its companions): the service
 * orders and renews them. Not with `tls`.
 */
export interface AcmeArgs {
  email: string;
  /** Default Let's Encrypt's production directory. */
  directoryUrl?: string;
  /** Default 80. */
  httpPort?: number;
  /** PEM bundle trusted for a private CA's directory. */
  caCert?: string;
}

/** The settings every provider shares: StackConfig's, each optional one defaulting as its stack key. */
type SharedSettings = Omit<
  StackConfig,
  'provider' | 'tls' | 'acme' | 'meteredApiUrl' | 'meteredKey' | 'meteredRegion' | 'stunUrls'
>;

/** Settings of other providers, refused by type (a Metered key on a coturn relay is a mistake). */
type NotMetered = {
  meteredApiUrl?: never;
  meteredRegion?: never;
  meteredApiKey?: never;
  meteredCredentialApiKey?: never;
};

/** What each provider needs, and nothing it does not: a Metered key is one of the two kinds. */
export type ProviderArgs =
  | ({ provider?: 'coturn'; stunUrls?: never } & NotMetered)
  | ({ provider: 'stun'; stunUrls?: string[] } & NotMetered)
  | ({ provider: 'metered'; meteredApiUrl: string; meteredRegion?: string; stunUrls?: never } & (
      | {
          /** Metered's Secret Key (Dashboard → Developers): the service mints expiring credentials. */
          meteredApiKey: pulumi.Input<string>;
          meteredCredentialApiKey?: never;
        }
      | {
          /** One credential's API Key (Dashboard → TURN Server): nothing is minted. */
          meteredCredentialApiKey: pulumi.Input<string>;
          meteredApiKey?: never;
        }
    ));

/**
 * A relay's settings (the awsx way: only publicHost is required, everything else defaults as
 * its `turnkey:*` stack key does, in relayConfig). `tls` turns on turns: and HTTPS.
 */
export type TurnkeyRelayArgs = Pick<SharedSettings, 'publicHost'> &
  Partial<Omit<SharedSettings, 'publicHost'>> &
  ProviderArgs & {
    tls?: TlsArgs;
    acme?: AcmeArgs;
    /** Names containers and image tags, with the component's name; defaults to the Pulumi stack. */
    stack?: string;
    /** Where the Dockerfiles live; defaults to this package (a checkout or node_modules/turnkey). */
    projectRoot?: string;
  } & FleetMemberArgs;

/** What makes a relay one host of a fleet (infra/resources/fleet.ts sets these). */
export interface FleetMemberArgs {
  /**
   * This relay as host `index` of a fleet (infra/plan/fleet.ts): its plan is planFleetHost's, with
   * the host's public address and the service knowing every relay.
   */
  fleet?: { relays: FleetConfig['relays']; index: number };
  /** Secrets another relay of the fleet generated (one TURN secret and API token for all). */
  sharedSecrets?: Partial<Record<SecretName, pulumi.Output<string>>>;
  /** Resources both containers wait for: the previous host's, so a fleet updates one host at a time. */
  after?: pulumi.Resource[];
}

/** The secrets a relay is given rather than generates. */
type SuppliedSecret = 'meteredApiKey' | 'meteredCredentialApiKey' | 'tlsCert' | 'tlsKey';
/** Supplied values the containers get as files: the secrets, and a private ACME CA's root. */
type SuppliedFile = SuppliedSecret | 'acmeCaCert' | 'fleetCaCert';

/** The one place the args' defaults are applied: the plan's StackConfig. */
export function relayConfig(args: TurnkeyRelayArgs): StackConfig {
  const {
    tls,
    acme,
    stack: _stack,
    projectRoot: _projectRoot,
    fleet: _fleet,
    sharedSecrets: _sharedSecrets,
    after: _after,
    meteredApiKey: _secretKey,
    meteredCredentialApiKey,
    ...settings
  } = args;
  // An explicit `undefined` means unset, as an absent key does.
  const given = Object.fromEntries(
    Object.entries(settings).filter(([, v]) => v !== undefined),
  ) as Partial<StackConfig>;
  return {
    ...STACK_DEFAULTS,
    stunUrls: [],
    listeningIps: [],
    allowedPeerIps: [],
    realm: defaultRealm(args.publicHost),
    ...given,
    publicHost: args.publicHost,
    provider: args.provider ?? STACK_DEFAULTS.provider,
    tls: tls !== undefined || acme !== undefined,
    ...(acme
      ? {
          acme: {
            email: acme.email,
            directoryUrl: acme.directoryUrl ?? (defaultOf('acmeDirectoryUrl') as string),
            httpPort: acme.httpPort ?? (defaultOf('acmeHttpPort') as number),
            ...(acme.caCert !== undefined ? { caCert: acme.caCert } : {}),
          },
        }
      : {}),
    ...(args.provider === 'metered'
      ? {
          meteredKey:
            meteredCredentialApiKey !== undefined ? 'meteredCredentialApiKey' : 'meteredApiKey',
        }
      : {}),
  };
}

/**
 * The args for a validated stack config (readStackConfig) whose secret keys are read by
 * `secret`: what infra/program.ts deploys.
 */
export function stackRelayArgs(
  config: StackConfig,
  secret: (key: SuppliedSecret) => pulumi.Input<string>,
): TurnkeyRelayArgs {
  const { provider, tls, acme, meteredApiUrl, meteredKey, meteredRegion, stunUrls, ...settings } =
    config;
  const shared = {
    ...settings,
    ...(acme ? { acme } : tls ? { tls: { cert: secret('tlsCert'), key: secret('tlsKey') } } : {}),
  };
  switch (provider) {
    case 'coturn':
      return { ...shared, provider };
    case 'stun':
      return { ...shared, provider, stunUrls };
    case 'metered': {
      const metered = {
        ...shared,
        provider,
        meteredApiUrl: meteredApiUrl as string,
        meteredRegion,
      };
      return meteredKey === 'meteredCredentialApiKey'
        ? { ...metered, meteredCredentialApiKey: secret('meteredCredentialApiKey') }
        : { ...metered, meteredApiKey: secret('meteredApiKey') };
    }
  }
}

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
 *   new TurnkeyRelay('relay', { publicHost: 'turn.example.com' });
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
    if (args.tls && args.acme)
      throw new Error(
        `relay ${name}: tls and acme are both given: keep one certificate source (acme orders its own)`,
      );
    const config = relayConfig(args);
    const planOpts = {
      stack: args.stack ?? pulumi.getStack(),
      projectRoot: fromCwd(projectRoot),
      name,
    };
    const plan = args.fleet
      ? planFleetHost({ config, relays: args.fleet.relays }, args.fleet.index, planOpts).plan
      : planDeployment(config, planOpts);
    this.plan = plan;
    this.secrets = this.makeSecrets(name, plan, config.secretGeneration, args.sharedSecrets, {
      meteredApiKey: 'meteredApiKey' in args ? args.meteredApiKey : undefined,
      meteredCredentialApiKey:
        'meteredCredentialApiKey' in args ? args.meteredCredentialApiKey : undefined,
      tlsCert: args.tls?.cert,
      tlsKey: args.tls?.key,
      acmeCaCert: args.acme?.caCert,
      fleetCaCert: config.fleetCaCert,
    });

    for (const image of plan.images) {
      if (image.role === 'service') ensureServiceBundle(resolve(projectRoot));
      fixContextModes(projectRoot, image, (message) => pulumi.log.warn(message));
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

    const volumes = Object.fromEntries(
      plan.volumes.map((v) => [
        v.name,
        new docker.Volume(
          `${name}-${v.purpose}`,
          { name: v.name, driver: 'local', driverOpts: v.driverOpts },
          child,
        ),
      ]),
    );

    let before: docker.Container | undefined;
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
          ...(c.user ? { user: c.user } : {}),
          // For a local image this is its ID, so a rebuilt image replaces the container.
          image: image.repoDigest,
          networkMode: c.networkMode,
          envs: Object.entries(c.env).map(([k, v]) => `${k}=${v}`),
          uploads,
          volumes: c.volumes.map((m) => ({
            volumeName: (volumes[m.volume] as docker.Volume).name,
            containerPath: m.path,
            readOnly: m.readOnly,
          })),
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
          // Docker's stop signal and timeout, and the provider's on delete (0 s unless set).
          stopSignal: c.stopSignal,
          stopTimeout: c.stopGraceSeconds,
          destroyGraceSeconds: c.stopGraceSeconds,
        },
        // In the plan's order: the relay waits for the service, which writes its secret files.
        {
          ...child,
          ...CONTAINER_REPLACEMENT,
          dependsOn: [...(args.after ?? []), ...(before ? [before] : [])],
          // The delete waits for the stop: a relay's drain may outlast the provider's own
          // operation timeout, which would fail the update mid-drain.
          customTimeouts: { delete: `${c.stopGraceSeconds + 300}s` },
        },
      );
      before = this.containers[c.role];
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

  /** Generates the TURN secrets and API token; wraps the `supplied` ones the plan needs. */
  private makeSecrets(
    name: string,
    plan: DeploymentPlan,
    generation: number,
    shared: Partial<Record<SecretName, pulumi.Output<string>>> | undefined,
    supplied: Record<SuppliedFile, pulumi.Input<string> | undefined>,
  ) {
    const child = { parent: this };
    // Letters and digits only: valid in Coturn's config and in an Authorization header.
    // Wrapped explicitly so secrecy does not depend on the provider's additionalSecretOutputs.
    const password = (id: string) =>
      pulumi.secret(new random.RandomPassword(id, { length: 48, special: false }, child).result);
    const secrets: Partial<Record<SecretName, pulumi.Output<string>>> = {};
    for (const secret of plan.secrets) {
      const given = shared?.[secret];
      if (given) {
        secrets[secret] = given;
        continue;
      }
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
        case 'tlsKey':
        case 'acmeCaCert':
        case 'fleetCaCert':
          // TurnkeyRelayArgs' type makes each present whenever the plan needs it.
          secrets[secret] = pulumi.secret(supplied[secret] as pulumi.Input<string>);
          break;
      }
    }
    return secrets;
  }
}
