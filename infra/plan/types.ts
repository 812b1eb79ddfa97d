import type { FleetRelay, ProviderName } from '../../contract';

/**
 * Everything one stack deploys, as plain data: images, containers, env, secret files,
 * healthchecks. The Pulumi component (infra/resources/relay.ts) turns it into resources one to
 * one, and the end-to-end tests run exactly this plan on a real Docker engine. Secrets appear
 * only by name.
 */

export type SecretName =
  | 'turnSecret'
  | 'previousTurnSecret'
  | 'apiToken'
  | 'meteredApiKey'
  | 'meteredCredentialApiKey'
  | 'tlsCert'
  | 'tlsKey'
  /** Not secret (a CA's certificate), but supplied and written as a file like the others. */
  | 'acmeCaCert'
  | 'fleetCaCert';
export type Role = 'coturn' | 'service';

export interface ImagePlan {
  role: Role;
  imageName: string;
  dockerfile: string;
  /**
   * Only what the image needs: coturn/ for the relay; for the service, the project root
   * filtered by service/Dockerfile.dockerignore down to the prebuilt bundle.
   */
  context: string;
  buildArgs: Record<string, string>;
  /** The Docker host's platform (turnkey:platform), never the machine running Pulumi. */
  platform: string;
}

/**
 * A secret written into the container's filesystem at creation, never into its env or args.
 * No owner: the provider's upload (the Terraform docker_container it bridges) writes every
 * file as uid 0, so the mode alone must let the image's non-root user read it. Nothing else
 * runs in the container, and each process copies what it needs into private memory.
 */
export interface SecretFilePlan {
  path: string;
  secret: SecretName;
  mode: '0444';
}

/**
 * A named volume the plan owns, for files that must change under a running container: a
 * tmpfs (the local driver's type=tmpfs), so what it holds is never on the host's disk.
 */
export interface VolumePlan {
  /**
   * What it holds; names its Pulumi resource, `<relay>-<purpose>`. `acme-state` is the one on
   * disk: the ACME account and certificate must outlive every container.
   */
  purpose: 'relay-secrets' | 'acme-state' | 'revocations';
  name: string;
  driverOpts?: { type: 'tmpfs'; device: 'tmpfs'; o: string };
}

/** A volume mounted into a container (the provider's `volumes`, Docker's Binds). */
export interface VolumeMountPlan {
  volume: string;
  path: string;
  readOnly: boolean;
}

export interface ContainerPlan {
  role: Role;
  name: string;
  image: Role;
  networkMode: 'host';
  /** uid:gid to start as, where not the image's own user (service/main.ts drops root). */
  user?: string;
  env: Record<string, string>;
  files: SecretFilePlan[];
  volumes: VolumeMountPlan[];
  restart: 'unless-stopped';
  healthcheck: {
    test: string[];
    interval: string;
    timeout: string;
    startPeriod: string;
    retries: number;
  };
  logDriver: 'json-file';
  logOptions: Record<string, string>;
  tmpfs: Record<string, string>;
  capabilities: { drop: string[]; add: string[] };
  securityOpts: string[];
  /**
   * What `docker stop`, and the provider's delete on replace and destroy, send first: SIGTERM
   * (the service finishes in-flight requests), or SIGUSR1 for the relay (Coturn drains).
   */
  stopSignal: 'SIGTERM' | 'SIGUSR1';
  /**
   * How long after stopSignal before SIGKILL: the provider's default is 0 s, which would kill
   * the service mid-request and cut a draining relay's calls at once.
   */
  stopGraceSeconds: number;
}

export interface DeploymentPlan {
  stack: string;
  provider: ProviderName;
  /** Secrets the program must supply; the TURN ones are generated per generation. */
  secrets: SecretName[];
  images: ImagePlan[];
  volumes: VolumePlan[];
  /** In the order they are created: each waits for the ones before it. */
  containers: ContainerPlan[];
  outputs: {
    iceServersUrl: string;
    provider: ProviderName;
    turnUris: string[];
    stunUris: string[];
  };
}

export interface PlanOptions {
  stack: string;
  /** The project root, where the Dockerfiles and build contexts are. */
  projectRoot: string;
  /**
   * The relay's name (the component's): container names and image tags carry it with the
   * stack, so two relays in one stack, or two stacks on one host, never collide.
   */
  name?: string;
  /**
   * This host as one of a fleet (infra/plan/fleet.ts): every relay as its service hands them
   * out, this host's own first (without its probe address, which the plan adds), and this
   * host's region.
   */
  fleet?: {
    relays: FleetRelay[];
    defaultRegion: string;
    /** The other hosts' service origins (https only), for passing revocations on. */
    peers?: string[];
  };
}
