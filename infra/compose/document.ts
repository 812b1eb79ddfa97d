import { relative, sep } from 'node:path';
import type { DeploymentPlan, Role, SecretName } from '../plan/types';

/**
 * A deployment plan as a Compose file (the Compose specification, which Compose v2 and
 * Debian's docker-compose 1.29 both read): the same images, env, secret files, volumes,
 * healthchecks, capabilities and stop behaviour `pulumi up` gives the containers, field by
 * field, so the two can never drift apart. Secrets stay out of it: each is a file the
 * `secrets:` section names, mounted read-only at the path the plan gives.
 */

/** Where the compose project keeps what the file refers to, relative to the file. */
export interface ComposePaths {
  /** The build context made for an image (a copy of what its build would see). */
  context(role: Role): string;
  /** The file holding a secret. */
  secret(name: SecretName): string;
}

export interface ComposeService {
  image: string;
  build: { context: string; dockerfile: string; args?: Record<string, string> };
  platform: string;
  container_name: string;
  network_mode: 'host';
  user?: string;
  environment: Record<string, string>;
  secrets?: { source: SecretName; target: string }[];
  volumes?: { type: 'volume'; source: string; target: string; read_only: boolean }[];
  tmpfs?: string[];
  cap_drop: string[];
  cap_add: string[];
  security_opt: string[];
  restart: string;
  healthcheck: {
    test: string[];
    interval: string;
    timeout: string;
    start_period: string;
    retries: number;
  };
  logging: { driver: string; options: Record<string, string> };
  stop_signal: string;
  stop_grace_period: string;
  depends_on?: Role[];
}

export interface ComposeDocument {
  services: Partial<Record<Role, ComposeService>>;
  volumes?: Record<
    string,
    { name: string; driver_opts?: { type: string; device: string; o: string } }
  >;
  secrets?: Partial<Record<SecretName, { file: string }>>;
}

/**
 * Compose reads `$` in any value as a variable (`${VAR}`) and `$$` as a `$`: every string the
 * plan gives is escaped, so a healthcheck's shell or an env value reaches the container as is.
 */
const literal = (s: string) => s.replaceAll('$', () => '$$');
const literals = (o: Record<string, string>) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, literal(v)]));

export function composeDocument(plan: DeploymentPlan, paths: ComposePaths): ComposeDocument {
  const services: ComposeDocument['services'] = {};
  const secrets: ComposeDocument['secrets'] = {};
  // Each container after the ones before it, as the plan creates them.
  const before: Role[] = [];
  for (const c of plan.containers) {
    const image = plan.images.find((i) => i.role === c.image);
    if (!image) throw new Error(`the plan has no image for the ${c.role} container`);
    for (const f of c.files) secrets[f.secret] = { file: paths.secret(f.secret) };
    services[c.role] = {
      image: image.imageName,
      build: {
        context: paths.context(image.role),
        // Where the context's copy holds it (infra/compose/project.ts).
        dockerfile: relative(image.context, image.dockerfile).split(sep).join('/'),
        ...(Object.keys(image.buildArgs).length > 0 ? { args: literals(image.buildArgs) } : {}),
      },
      platform: image.platform,
      container_name: c.name,
      network_mode: c.networkMode,
      ...(c.user ? { user: c.user } : {}),
      environment: literals(c.env),
      ...(c.files.length > 0
        ? { secrets: c.files.map((f) => ({ source: f.secret, target: f.path })) }
        : {}),
      ...(c.volumes.length > 0
        ? {
            volumes: c.volumes.map((v) => ({
              type: 'volume' as const,
              source: v.volume,
              target: v.path,
              read_only: v.readOnly,
            })),
          }
        : {}),
      ...(Object.keys(c.tmpfs).length > 0
        ? { tmpfs: Object.entries(c.tmpfs).map(([path, opts]) => `${path}:${opts}`) }
        : {}),
      cap_drop: c.capabilities.drop,
      cap_add: c.capabilities.add,
      security_opt: c.securityOpts,
      restart: c.restart,
      healthcheck: {
        test: c.healthcheck.test.map(literal),
        interval: c.healthcheck.interval,
        timeout: c.healthcheck.timeout,
        start_period: c.healthcheck.startPeriod,
        retries: c.healthcheck.retries,
      },
      logging: { driver: c.logDriver, options: c.logOptions },
      stop_signal: c.stopSignal,
      stop_grace_period: `${c.stopGraceSeconds}s`,
      ...(before.length > 0 ? { depends_on: [...before] } : {}),
    };
    before.push(c.role);
  }
  return {
    services,
    // Named as the plan names them (`name:`), not prefixed with the Compose project's name.
    ...(plan.volumes.length > 0
      ? {
          volumes: Object.fromEntries(
            plan.volumes.map((v) => [
              v.name,
              { name: v.name, ...(v.driverOpts ? { driver_opts: v.driverOpts } : {}) },
            ]),
          ),
        }
      : {}),
    ...(Object.keys(secrets).length > 0 ? { secrets } : {}),
  };
}
