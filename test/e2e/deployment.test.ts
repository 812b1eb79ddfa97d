import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DeploymentPlan, planDeployment, type SecretName } from '../../infra/deployment';
import { CoturnProvider } from '../../service/providers/coturn';
import type { IceServer } from '../../service/providers/types';
import standIns from '../docker/stand-ins.json';
import {
  firstRelayCandidate,
  launchChromium,
  openIceServersPage,
  relayConnect,
} from '../helpers/browser';
import { LOOPBACK_OVERLAY } from '../helpers/coturn';
import { DockerApi, dockerCli } from '../helpers/docker';
import { type FakeMetered, startFakeMetered } from '../helpers/fake-metered';
import { freePortBlock } from '../helpers/ports';
import {
  buildImages,
  removeContainers,
  removeLeftovers,
  runContainer,
  stopContainer,
  waitHealthy,
} from '../helpers/realise';
import { escapeRegExp } from '../helpers/regexp';
import { get } from '../helpers/service';
import { REPO_ROOT, stackConfig } from '../helpers/stack';

/**
 * The dev stack's deployment, as the Pulumi program computes it, realised on a real Docker
 * engine and used by a real Chromium. Only ports are changed (to free ones below the
 * ephemeral range), the base images are the local stand-ins (through the stack's own
 * turnkey:nodeImage / coturnImage), and the relay gets a loopback-peer overlay where two peers
 * on this one machine must reach each other; the shipped config is tested without it.
 */

const alnum = () =>
  randomBytes(36)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 40);
const secrets: Partial<Record<SecretName, string>> = { turnSecret: alnum(), apiToken: alnum() };
const stack = `e2e${randomBytes(3).toString('hex')}`;

let api: DockerApi;
let browser: Browser;
let plan: DeploymentPlan;
let base: number;
let images: Awaited<ReturnType<typeof buildImages>>;
const started: string[] = [];
let coturnId: string;
let serviceId: string;

function devPlan(overrides: Record<string, string> = {}, secretKeys: string[] = []) {
  const config = stackConfig(
    'dev',
    {
      'turnkey:servicePort': String(base),
      'turnkey:turnPort': String(base + 1),
      // The service's metrics listener (default 9464) shares the host network too.
      'turnkey:metricsPort': String(base + 2),
      'turnkey:relayPorts': `${base + 4}-${base + 43}`,
      'turnkey:nodeImage': standIns.nodeImage,
      'turnkey:coturnImage': standIns.coturnImage,
      ...overrides,
    },
    secretKeys,
  );
  return planDeployment(config, { stack, projectRoot: REPO_ROOT });
}

async function start(role: 'coturn' | 'service', p: DeploymentPlan, overlay?: string) {
  const c = p.containers.find((x) => x.role === role);
  if (!c) throw new Error(`plan has no ${role} container`);
  const id = await runContainer(api, c, images[role] as string, {
    secrets,
    ...(overlay ? { coturnOverlay: overlay } : {}),
  });
  started.push(id);
  await waitHealthy(api, id);
  return id;
}

const onlyTurn = (servers: IceServer[], transport: 'udp' | 'tcp') =>
  servers
    .filter((s) => s.username)
    .map((s) => ({
      ...s,
      urls: s.urls.filter((u) => u.startsWith('turn:') && u.endsWith(`transport=${transport}`)),
    }));

const logsOf = (id: string) => dockerCli(['logs', id]);

beforeAll(async () => {
  api = new DockerApi();
  await removeLeftovers(api);
  base = await freePortBlock(44);
  plan = devPlan();
  images = await buildImages(plan);
  coturnId = await start('coturn', plan, LOOPBACK_OVERLAY);
  serviceId = await start('service', plan);
  browser = await launchChromium();
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await removeContainers(api, started);
  // This run's tags (the stack name is random): untagged, the layers stay cached.
  for (const image of plan?.images ?? [])
    await api?.call('DELETE', `/images/${encodeURIComponent(image.imageName)}`).catch(() => {});
  await api?.close();
}, 60_000);

describe('provider=coturn: relay and credential service containers', () => {
  it('runs exactly the planned containers on host networking', async () => {
    for (const [id, role] of [
      [coturnId, 'coturn'],
      [serviceId, 'service'],
    ] as const) {
      const info = JSON.parse(await dockerCli(['inspect', id]))[0];
      const planned = plan.containers.find((c) => c.role === role);
      expect(info.HostConfig.NetworkMode).toBe('host');
      expect(info.Name).toBe(`/${planned?.name}`);
      expect(info.State.Health.Status).toBe('healthy');
      expect(info.Config.Env).toEqual(
        expect.arrayContaining(Object.entries(planned?.env ?? {}).map(([k, v]) => `${k}=${v}`)),
      );
    }
  });

  it('reads its secret files though the provider writes them root-owned, with the plan’s mode', async () => {
    for (const [id, path] of [
      [coturnId, '/run/secrets/turn-secret'],
      [serviceId, '/run/secrets/api-tokens'],
    ] as const)
      expect((await dockerCli(['exec', id, 'stat', '-c', '%u:%g %a', path])).trim()).toBe(
        '0:0 444',
      );
  });

  it('builds both images on the test stand-ins, named as such, not on an official tag', async () => {
    expect(plan.images.map((i) => i.buildArgs)).toEqual([
      { COTURN_IMAGE: standIns.coturnImage },
      { NODE_IMAGE: standIns.nodeImage },
    ]);
    const layers = async (ref: string) =>
      JSON.parse(await dockerCli(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', ref]));
    for (const [role, base] of [
      ['coturn', standIns.coturnImage],
      ['service', standIns.nodeImage],
    ] as const) {
      const own: string[] = await layers(images[role] as string);
      expect(own.slice(0, (await layers(base)).length)).toEqual(await layers(base));
    }
  });

  it('a browser gets ICE servers from the service with the API token, and relays a data channel over UDP', async () => {
    const { page, status, body } = await openIceServersPage(
      browser,
      `${plan.outputs.iceServersUrl}?user=alice`,
      secrets.apiToken as string,
    );
    expect(status).toBe(200);
    expect(body.iceServers.flatMap((s) => s.urls)).toEqual([
      ...plan.outputs.stunUris,
      ...plan.outputs.turnUris,
    ]);
    const result = await relayConnect(page, onlyTurn(body.iceServers, 'udp'));
    expect(result).toMatchObject({
      opened: true,
      message: 'hello through the relay',
      local: { candidateType: 'relay', relayProtocol: 'udp' },
      remote: { candidateType: 'relay' },
    });
    await page.context().close();
  });

  it('relays over TCP to the TURN server too', async () => {
    const { page, body } = await openIceServersPage(
      browser,
      `${plan.outputs.iceServersUrl}?user=bob`,
      secrets.apiToken as string,
    );
    const result = await relayConnect(page, onlyTurn(body.iceServers, 'tcp'));
    expect(result).toMatchObject({
      opened: true,
      message: 'hello through the relay',
      local: { candidateType: 'relay', relayProtocol: 'tcp' },
    });
    await page.context().close();
  });

  it('a wrong or an expired credential yields no relay candidate, and Coturn logs the 401', async () => {
    const { page, body } = await openIceServersPage(
      browser,
      `${plan.outputs.iceServersUrl}?user=carol`,
      secrets.apiToken as string,
    );
    const [good] = onlyTurn(body.iceServers, 'udp') as [IceServer];
    const wrong = { ...good, credential: `x${(good.credential as string).slice(1)}` };
    const expiredProvider = new CoturnProvider({
      secret: secrets.turnSecret as string,
      turnUris: good.urls,
      stunUris: [],
      credentialTtl: 3600,
      now: () => Date.now() - 2 * 3600_000,
    });
    const expired = (await expiredProvider.getIceServers('dave', { ttl: 60 }))
      .iceServers[0] as IceServer;

    for (const server of [wrong, expired]) {
      expect(await firstRelayCandidate(page, [server])).toBeNull();
      const line = new RegExp(`user <${escapeRegExp(server.username as string)}>.*error 401`);
      await expect
        .poll(async () => line.test(await logsOf(coturnId)), { timeout: 5000 })
        .toBe(true);
    }
    expect(await firstRelayCandidate(page, [good])).toMatch(/ typ relay /);
    await page.context().close();
  });
});

describe('the shipped relay config (no test overlay)', () => {
  beforeAll(async () => {
    await removeContainers(api, [coturnId]);
    coturnId = await start('coturn', plan);
  }, 120_000);

  it('refuses a loopback peer with 403, so two local peers cannot connect', async () => {
    const { page, body } = await openIceServersPage(
      browser,
      `${plan.outputs.iceServersUrl}?user=erin`,
      secrets.apiToken as string,
    );
    const servers = onlyTurn(body.iceServers, 'udp');
    const result = await relayConnect(page, servers, 6000);
    expect(result.opened).toBe(false);
    const user = escapeRegExp(String(servers[0]?.username));
    expect(await logsOf(coturnId)).toMatch(
      new RegExp(
        `user <${user}>: incoming packet (CREATE_PERMISSION|CHANNEL_BIND) processed, error 403`,
      ),
    );
    await page.context().close();
  });

  it('neither the TURN secret nor the API token shows in docker inspect, docker history or logs', async () => {
    const evidence = [
      await dockerCli(['inspect', coturnId, serviceId]),
      await dockerCli(['history', '--no-trunc', images.coturn as string]),
      await dockerCli(['history', '--no-trunc', images.service as string]),
      await dockerCli(['image', 'inspect', images.coturn as string, images.service as string]),
      await logsOf(coturnId),
      await logsOf(serviceId),
    ].join('\n');
    expect(evidence).toContain('TURN_SECRET_FILE=/run/secrets/turn-secret');
    expect(evidence.length).toBeGreaterThan(10_000);
    for (const secret of [secrets.turnSecret, secrets.apiToken])
      expect(evidence).not.toContain(secret);
  });
});

describe('provider=metered and provider=stun', () => {
  let fake: FakeMetered;

  beforeAll(async () => {
    await removeContainers(api, started.splice(0));
    fake = await startFakeMetered();
    secrets.meteredApiKey = fake.secretKey;
  }, 60_000);
  afterAll(async () => {
    await fake?.close();
  });

  it('metered: the service hands out the ICE servers of the (fake) Metered API, and no Coturn runs', async () => {
    const metered = devPlan({ 'turnkey:provider': 'metered', 'turnkey:meteredApiUrl': fake.url }, [
      'meteredApiKey',
    ]);
    expect(metered.containers.map((c) => c.role)).toEqual(['service']);
    const id = await start('service', metered);
    const res = await get(`${metered.outputs.iceServersUrl}?user=alice`, {
      token: secrets.apiToken as string,
    });
    expect(res.status).toBe(200);
    const servers = res.json().iceServers as IceServer[];
    expect(servers.map((s) => s.urls[0])).toContain('turn:global.relay.metered.example:80');
    expect(servers.find((s) => s.username)?.username).toBe(fake.lastIssued?.username);
    const running = await dockerCli([
      'ps',
      '--filter',
      'label=turnkey-e2e',
      '--format',
      '{{.Names}}',
    ]);
    expect(running.trim().split('\n')).toEqual([`turnkey-${stack}-credentials`]);
    expect(await dockerCli(['inspect', id])).not.toContain(fake.secretKey);
    await removeContainers(api, started.splice(0));
  });

  it('stun: the service hands out STUN servers only', async () => {
    const stun = devPlan({
      'turnkey:provider': 'stun',
      'turnkey:stunUrls': `stun:127.0.0.1:${base + 1}`,
    });
    expect(stun.containers.map((c) => c.role)).toEqual(['service']);
    await start('service', stun);
    const res = await get(`${stun.outputs.iceServersUrl}?user=alice`, {
      token: secrets.apiToken as string,
    });
    expect(res.json().iceServers).toEqual([{ urls: [`stun:127.0.0.1:${base + 1}`] }]);
  });
});

describe('replacing or destroying a container, as the provider does', () => {
  let fake: FakeMetered;
  beforeAll(async () => {
    await removeContainers(api, started.splice(0));
    fake = await startFakeMetered();
    secrets.meteredApiKey = fake.secretKey;
  }, 60_000);
  afterAll(async () => {
    await fake?.close();
  });

  /** A request in flight for about 3 s (two Metered calls of 1.5 s) when the stop comes. */
  async function stopDuringRequest(graceSeconds: number) {
    const metered = devPlan({ 'turnkey:provider': 'metered', 'turnkey:meteredApiUrl': fake.url }, [
      'meteredApiKey',
    ]);
    const id = await start('service', metered);
    fake.delayMs = 1500;
    const request = get(`${metered.outputs.iceServersUrl}?user=alice`, {
      token: secrets.apiToken as string,
    }).then(
      (res) => res.status,
      () => 'connection lost',
    );
    await new Promise((r) => setTimeout(r, 500));
    await stopContainer(api, id, graceSeconds);
    const info = (await api.call('GET', `/containers/${id}/json`)) as {
      State: { ExitCode: number };
    };
    await removeContainers(api, [id]);
    return { status: await request, exitCode: info.State.ExitCode };
  }

  it('with the plan’s grace, the service finishes the request in flight and exits 0', async () => {
    const c = devPlan().containers.find((x) => x.role === 'service');
    expect(await stopDuringRequest(c?.stopGraceSeconds as number)).toEqual({
      status: 200,
      exitCode: 0,
    });
  });

  it('with the provider’s default (0 s), it would be killed mid-request', async () => {
    expect(await stopDuringRequest(0)).toEqual({ status: 'connection lost', exitCode: 137 });
  });
});
