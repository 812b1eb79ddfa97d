import { resolve } from 'node:path';
import { pack } from 'tar-stream';
import type { ContainerPlan, DeploymentPlan, Role, SecretName, VolumePlan } from '../../infra';
import { ensureServiceBundle } from '../../infra';
import { buildContext, contextTar } from './build-context';
import { DockerApi, dockerCli, nanoseconds } from './docker';

/**
 * Runs a DeploymentPlan on a Docker engine as the Pulumi Docker provider would: the same
 * images built from the same Dockerfiles and contexts through the Engine API with BuildKit,
 * the same containers with the same env, secret files, healthchecks and host settings,
 * removed with the same stop timeout. Where the provider's behaviour is uncertain, the worse
 * case: secret files owned by root (the upstream upload sets no owner). The one addition: a
 * label to find leftovers.
 */

export const E2E_LABEL = 'turnkey-e2e';

export interface BuildOptions {
  /** The Docker API to build through; a connection is opened (and closed) when not given. */
  api?: DockerApi;
}

/**
 * Builds each planned image as the provider does (github:pulumi/pulumi-docker, provider/image.go
 * dockerBuild): the context tar minus ignored files, POST /build with BuildKit (version 2, the
 * provider's default builder), the plan's platform and build args; returns the image IDs.
 */
export async function buildImages(
  plan: DeploymentPlan,
  opts: BuildOptions = {},
): Promise<Partial<Record<Role, string>>> {
  const api = opts.api ?? new DockerApi();
  const ids: Partial<Record<Role, string>> = {};
  try {
    for (const image of plan.images) {
      // The component bundles the service before its image build; so does this.
      if (image.role === 'service') ensureServiceBundle(resolve(image.context));
      const context = buildContext(image.context, image.dockerfile);
      const query = new URLSearchParams({
        version: '2',
        dockerfile: context.dockerfile,
        t: image.imageName,
        platform: image.platform,
        buildargs: JSON.stringify(image.buildArgs),
      });
      const tar = await contextTar(image.context, context.files);
      const lines = await api.stream('POST', `/build?${query}`, tar, 'application/x-tar');
      const failure = lines.find((l) => l.error !== undefined || l.errorDetail !== undefined);
      if (failure)
        throw new Error(`building ${image.imageName} failed: ${JSON.stringify(failure.error)}`);
      const info = await api.call('GET', `/images/${encodeURIComponent(image.imageName)}/json`);
      ids[image.role] = info.Id as string;
    }
  } finally {
    if (!opts.api) await api.close();
  }
  return ids;
}

/**
 * One file as the upstream resource uploads it (kreuzwerker/terraform-provider-docker,
 * resource_docker_container_funcs.go): a one-entry tar with the path, the plan's mode and no
 * owner, i.e. root, extracted at "/"; missing directories are made by Docker, root's, 0755.
 */
async function uploadArchive(path: string, mode: string, content: string) {
  const tar = pack();
  tar.entry({ name: path, mode: Number.parseInt(mode, 8), uid: 0, gid: 0 }, content);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface RunOptions {
  secrets: Partial<Record<SecretName, string>>;
}

/** Creates, fills and starts one container as the provider would; returns its id. */
export async function runContainer(
  api: DockerApi,
  c: ContainerPlan,
  imageId: string,
  opts: RunOptions,
): Promise<string> {
  const env = Object.entries(c.env).map(([k, v]) => `${k}=${v}`);
  const files = c.files.map((f) => {
    const content = opts.secrets[f.secret];
    if (content === undefined) throw new Error(`no value for secret ${f.secret}`);
    return { path: f.path, mode: f.mode as string, content };
  });
  const created = await api.call('POST', `/containers/create?name=${encodeURIComponent(c.name)}`, {
    Image: imageId,
    ...(c.user ? { User: c.user } : {}),
    Env: env,
    Labels: { [E2E_LABEL]: '1' },
    StopSignal: c.stopSignal,
    StopTimeout: c.stopGraceSeconds,
    Healthcheck: {
      Test: c.healthcheck.test,
      Interval: nanoseconds(c.healthcheck.interval),
      Timeout: nanoseconds(c.healthcheck.timeout),
      StartPeriod: nanoseconds(c.healthcheck.startPeriod),
      Retries: c.healthcheck.retries,
    },
    HostConfig: {
      NetworkMode: c.networkMode,
      // The provider's `volumes` become Binds (kreuzwerker terraform-provider-docker,
      // resource_docker_container_funcs.go volumeSetToDockerVolumes).
      Binds: c.volumes.map((m) => `${m.volume}:${m.path}${m.readOnly ? ':ro' : ''}`),
      RestartPolicy: { Name: c.restart },
      LogConfig: { Type: c.logDriver, Config: c.logOptions },
      Tmpfs: c.tmpfs,
      CapDrop: c.capabilities.drop,
      CapAdd: c.capabilities.add,
      SecurityOpt: c.securityOpts,
    },
  });
  const id = created.Id as string;
  for (const f of files) {
    await api.call(
      'PUT',
      `/containers/${id}/archive?path=/`,
      await uploadArchive(f.path, f.mode, f.content),
      'application/x-tar',
    );
  }
  await api.call('POST', `/containers/${id}/start`);
  return id;
}

/** Creates the plan's volumes as the provider's Volume does (idempotent, like Docker's create). */
export async function createVolumes(api: DockerApi, volumes: VolumePlan[]): Promise<void> {
  for (const v of volumes)
    await api.call('POST', '/volumes/create', {
      Name: v.name,
      Driver: 'local',
      DriverOpts: v.driverOpts,
      Labels: { [E2E_LABEL]: '1' },
    });
}

/** Waits until Docker's own healthcheck reports healthy (as the provider's wait: true does). */
export async function waitHealthy(api: DockerApi, id: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = (await api.call('GET', `/containers/${id}/json`)) as {
      State: { Status: string; Health?: { Status: string } };
    };
    if (info.State.Health?.Status === 'healthy') return;
    if (info.State.Status === 'exited' || Date.now() > deadline) {
      const logs = await dockerCli(['logs', '--tail', '30', id], api.cliEnv).catch(() => '');
      throw new Error(
        `container ${id.slice(0, 12)} is ${info.State.Status}/${info.State.Health?.Status}; last logs:\n${logs}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

export interface RemoveOptions {
  /**
   * Stop first with this timeout, as the provider's delete does on replace and destroy
   * (ContainerStop with destroyGraceSeconds, 0 when unset), then remove. Unset: remove at once
   * (test clean-up).
   */
  graceSeconds?: number;
}

/** SIGTERM (the image's STOPSIGNAL), then SIGKILL after `graceSeconds`, as the provider stops. */
export async function stopContainer(api: DockerApi, id: string, graceSeconds: number) {
  await api.call('POST', `/containers/${id}/stop?t=${graceSeconds}`);
}

export async function removeContainers(
  api: DockerApi,
  ids: string[],
  opts: RemoveOptions = {},
): Promise<void> {
  for (const id of ids) {
    if (opts.graceSeconds !== undefined)
      await stopContainer(api, id, opts.graceSeconds).catch(() => {});
    await api.call('DELETE', `/containers/${id}?force=true&v=true`).catch(() => {});
  }
}

/** Leftovers of an earlier run that was killed before its cleanup (found by our label only). */
export async function removeLeftovers(api: DockerApi): Promise<void> {
  const filters = encodeURIComponent(JSON.stringify({ label: [E2E_LABEL] }));
  const list = (await api.call(
    'GET',
    `/containers/json?all=true&filters=${filters}`,
  )) as unknown as { Id: string }[];
  await removeContainers(
    api,
    list.map((c) => c.Id),
  );
  const volumes = (await api.call('GET', `/volumes?filters=${filters}`)) as unknown as {
    Volumes: { Name: string }[] | null;
  };
  for (const v of volumes.Volumes ?? [])
    await api.call('DELETE', `/volumes/${encodeURIComponent(v.Name)}`).catch(() => {});
}

/** A realised plan: the plan, the values of its secrets, and its containers' ids by role. */
export interface Realised {
  plan: DeploymentPlan;
  secrets: Partial<Record<SecretName, string>>;
  ids: Partial<Record<Role, string>>;
}

/**
 * Everything of a container the provider compares: the Docker provider's container
 * (kreuzwerker terraform-provider-docker, resource_docker_container.go) makes each of these
 * ForceNew, so any change replaces the container; the image by its id (the component passes
 * image.repoDigest, a local image's id). Upload contents are compared as the provider holds
 * them, in state.
 */
function definition(
  c: ContainerPlan,
  imageId: string,
  secrets: Partial<Record<SecretName, string>>,
): string {
  return JSON.stringify({
    ...c,
    image: imageId,
    env: Object.entries(c.env).sort(),
    files: c.files.map((f) => ({ ...f, content: secrets[f.secret] })),
  });
}

/**
 * `pulumi up` from `before` to `plan` with these secrets: exactly the containers whose
 * definition changed are replaced, in the plan's (dependency) order, each deleted before its
 * replacement is created (the component's deleteBeforeReplace): stopped with its stop signal
 * and grace (the provider's delete: ContainerStop with destroyGraceSeconds), removed, created
 * and waited for (wait: true). A container whose definition is the same is left running, with
 * its id: the engine does nothing to it, even when one it dependsOn is replaced (a dependsOn
 * edge carries no property: pulumi/pulumi pkg/resource/deploy/step_generator.go
 * calculateDependentReplacements). Returns the new realisation and the roles replaced.
 */
export async function applyPlan(
  api: DockerApi,
  before: Realised,
  plan: DeploymentPlan,
  secrets: Partial<Record<SecretName, string>>,
  images: Partial<Record<Role, string>>,
): Promise<{ realised: Realised; replaced: Role[] }> {
  await createVolumes(api, plan.volumes);
  const ids = { ...before.ids };
  const replaced: Role[] = [];
  for (const c of plan.containers) {
    const image = images[c.image] as string;
    const old = before.plan.containers.find((o) => o.role === c.role);
    const oldId = before.ids[c.role];
    // The running container's image against the one the tag names now.
    const imageId = (await api.call('GET', `/images/${encodeURIComponent(image)}/json`))
      .Id as string;
    const running = oldId ? await api.call('GET', `/containers/${oldId}/json`) : undefined;
    if (
      old &&
      running &&
      definition(old, running.Image as string, before.secrets) === definition(c, imageId, secrets)
    )
      continue;
    if (old && oldId) await removeContainers(api, [oldId], { graceSeconds: old.stopGraceSeconds });
    ids[c.role] = await runContainer(api, c, image, { secrets });
    await waitHealthy(api, ids[c.role] as string);
    replaced.push(c.role);
  }
  return { realised: { plan, secrets, ids }, replaced };
}
