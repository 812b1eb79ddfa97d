import { pack } from 'tar-stream';
import type { ContainerPlan, DeploymentPlan, Role, SecretName } from '../../infra/deployment';
import { type DockerApi, dockerCli, nanoseconds } from './docker';

/**
 * Runs a DeploymentPlan on the local Docker engine exactly as the Pulumi program would:
 * the same images built from the same Dockerfiles, the same containers with the same env,
 * secret files, healthchecks and host settings. The one addition: a label to find leftovers.
 */

export const E2E_LABEL = 'turnkey-e2e';

export async function buildImages(plan: DeploymentPlan): Promise<Partial<Record<Role, string>>> {
  const ids: Partial<Record<Role, string>> = {};
  for (const image of plan.images) {
    const buildArgs = Object.entries(image.buildArgs).flatMap(([k, v]) => [
      '--build-arg',
      `${k}=${v}`,
    ]);
    // The classic builder works with every client here; the Pulumi provider talks to the same daemon.
    await dockerCli(
      ['build', '-q', '-f', image.dockerfile, '-t', image.imageName, ...buildArgs, image.context],
      {
        DOCKER_BUILDKIT: '0',
      },
    );
    ids[image.role] = (
      await dockerCli(['image', 'inspect', '-f', '{{.Id}}', image.imageName])
    ).trim();
  }
  return ids;
}

async function secretArchive(
  files: { path: string; owner: string; group: string; mode: string; content: string }[],
) {
  const tar = pack();
  const dirs = new Set(files.map((f) => f.path.split('/').slice(1, -1).join('/')));
  for (const dir of dirs) tar.entry({ name: dir, type: 'directory', mode: 0o755 });
  for (const f of files) {
    tar.entry(
      {
        name: f.path.slice(1),
        mode: Number.parseInt(f.mode, 8),
        uid: Number(f.owner),
        gid: Number(f.group),
      },
      f.content,
    );
  }
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
    return { path: f.path, owner: f.owner, group: f.group, mode: f.mode, content };
  });
  const created = await api.call('POST', `/containers/create?name=${encodeURIComponent(c.name)}`, {
    Image: imageId,
    Env: env,
    Labels: { [E2E_LABEL]: '1' },
    Healthcheck: {
      Test: c.healthcheck.test,
      Interval: nanoseconds(c.healthcheck.interval),
      Timeout: nanoseconds(c.healthcheck.timeout),
      StartPeriod: nanoseconds(c.healthcheck.startPeriod),
      Retries: c.healthcheck.retries,
    },
    HostConfig: {
      NetworkMode: c.networkMode,
      RestartPolicy: { Name: c.restart },
      LogConfig: { Type: c.logDriver, Config: c.logOptions },
      Tmpfs: c.tmpfs,
      CapDrop: c.capabilities.drop,
      CapAdd: c.capabilities.add,
      SecurityOpt: c.securityOpts,
    },
  });
  const id = created.Id as string;
  if (files.length > 0) {
    await api.call(
      'PUT',
      `/containers/${id}/archive?path=/`,
      await secretArchive(files),
      'application/x-tar',
    );
  }
  await api.call('POST', `/containers/${id}/start`);
  return id;
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

export async function removeContainers(api: DockerApi, ids: string[]): Promise<void> {
  for (const id of ids)
    await api.call('DELETE', `/containers/${id}?force=true&v=true`).catch(() => {});
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
}
