import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentPlan, Role, SecretName } from '../../infra';
import { CoturnProvider } from '../../service/providers/coturn';
import type { IceServer } from '../../service/providers/types';
import standIns from '../docker/stand-ins.json';
import { dockerCli } from '../helpers/docker';
import {
  applyPlan,
  buildImages,
  type Realised,
  removeContainers,
  stopContainer,
} from '../helpers/realise';
import { escapeRegExp } from '../helpers/regexp';
import {
  expectCallRelayedVia,
  expectStillTalking,
  firstRelayCandidate,
  type LabBrowser,
  launchLabChromium,
  launchSites,
  startCall,
} from './browser';
import {
  alnum,
  backendIceServers as backendIceServersFrom,
  labPlan,
  onlyTransport,
  pidOf,
  presentedCertificate,
  productionValues,
  type RelayTransport,
  realiseOn,
  removeMachineImages,
} from './deployment';
import { type LabEngine, startLabEngine } from './engine';
import { createLab, type Lab } from './lab';
import { makeTestPki, type TestPki } from './pki';

/**
 * The deployment end to end, as production runs it: the dev stack's plan with a production
 * host's changes only (public address, a TLS certificate from a test CA, EXTERNAL_IP behind
 * 1:1 NAT), realised on the relay host's own Docker engine (reached through its socket, as
 * `docker:host` reaches a remote engine), with the shipped relay config unmodified. An app
 * backend on the internet asks the credential service for ICE servers; Chromium in two NATed
 * sites (site B symmetric) calls across with the default ICE policy, where only relayed
 * paths can work.
 */

const stack = `lab${randomBytes(3).toString('hex')}`;
const secrets: Partial<Record<SecretName, string>> = { turnSecret: alnum(), apiToken: alnum() };
const TRANSPORTS: RelayTransport[] = ['udp', 'tcp', 'tls'];
const TLS_KEYS = ['tlsCert', 'tlsKey'];
/**
 * Calls per transport test: 1 in a test run; `npm run stress:lab-calls` makes each test a
 * stress run of consecutive calls, every one judged, and reports how many delivered both ways.
 */
const CALLS = Number(process.env.LAB_CALLS ?? 1);
const callsTimeout = 120_000 + 30_000 * (CALLS - 1);

let lab: Lab;
let pki: TestPki;
let pkiDir: string;
let images: Partial<Record<Role, string>>;
let siteA: LabBrowser;
let siteB: LabBrowser;
const engines: LabEngine[] = [];

/** The app backend trusts the test CA, as an app's server trusts a public one. */
const backendIceServers = (l: Lab, url: string, token: string) =>
  backendIceServersFrom(l, url, token, pki.caFile);

/** The deployment of one relay host: its engine, plan and running containers. */
interface Host {
  engine: LabEngine;
  plan: DeploymentPlan;
  ids: Record<string, string>;
}

async function deployCoturn(ns: string, publicHost: string, extra: Record<string, string> = {}) {
  const engine = await startLabEngine(ns);
  engines.push(engine);
  await engine.loadImages(Object.values(images) as string[]);
  const plan = labPlan(stack, productionValues(publicHost, extra), ['tlsCert', 'tlsKey']);
  const ids = await realiseOn(engine, plan, images, secrets);
  return { engine, plan, ids } satisfies Host;
}

/** What the app backend gets from the host's service for `user`, one transport only. */
async function iceServersFor(host: Host, transport: RelayTransport, user: string) {
  const { status, body } = await backendIceServers(
    lab,
    `${host.plan.outputs.iceServersUrl}?user=${user}`,
    secrets.apiToken as string,
  );
  expect(status).toBe(200);
  return onlyTransport(body.iceServers, transport);
}

/** A call that is connected, judged by what connecting showed, and hung up. */
async function call(host: Host, transport: RelayTransport, user: string) {
  const c = await startCall([siteA, siteB], await iceServersFor(host, transport, user));
  await c.close();
  return c.result;
}

/** A call left running. */
const openCall = async (host: Host, transport: RelayTransport, user: string) =>
  startCall([siteA, siteB], await iceServersFor(host, transport, user));

const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;

/**
 * `CALLS` consecutive calls (each its own user id and pages), every one judged by
 * expectRelayed; with more than one, a line says how many delivered both ways and how long
 * connecting took, and every failed call is printed whole.
 */
async function calls(host: Host, transport: RelayTransport, user: string, publicIp: string) {
  const failed: string[] = [];
  const opened: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const result = await call(host, transport, CALLS > 1 ? `${user}${i}` : user);
    try {
      expectRelayed(result, transport, publicIp);
      opened.push(Math.max(Number(result.a.times.opened), Number(result.b.times.opened)));
    } catch (err) {
      failed.push(`call ${i + 1}: ${(err as Error).message}`);
    }
  }
  if (CALLS > 1) {
    const sorted = opened.sort((x, y) => x - y);
    console.log(
      `lab calls via ${publicIp} over ${transport}: ${CALLS - failed.length}/${CALLS} delivered both ways; channel open after ${sorted[0]}–${sorted.at(-1)} ms (median ${sorted[Math.floor(sorted.length / 2)]})`,
    );
  }
  expect(failed, failed.join('\n')).toEqual([]);
}

/** What a user relies on: both sides got the other's message, over the relay, as asked. */
function expectRelayed(
  result: Awaited<ReturnType<typeof call>>,
  transport: RelayTransport,
  publicIp: string,
) {
  const seen = JSON.stringify(result);
  expectCallRelayedVia(result, publicIp, seen);
  // And every allocation either side made used only the transport asked for.
  const allocations = [...(result.a.relays ?? []), ...(result.b.relays ?? [])];
  expect(allocations.length, seen).toBeGreaterThan(0);
  for (const c of allocations) {
    expect(c.relayProtocol, seen).toBe(transport);
    expect(c.address, seen).toBe(publicIp);
    expect(c.url, seen).toMatch(
      transport === 'tls' ? /^turns:/ : new RegExp(`transport=${transport}$`),
    );
  }
}

beforeAll(async () => {
  lab = await createLab('dep');
  pkiDir = mkdtempSync(join(tmpdir(), 'turnkey-lab-pki-'));
  pki = makeTestPki(pkiDir, { ips: [lab.relay.ip, lab.cloud.publicIp] });
  secrets.tlsCert = pki.certPem;
  secrets.tlsKey = pki.keyPem;
  // Built once per run, on the machine's engine from the unchanged Dockerfiles, then moved into
  // each host's engine (the lab has no registry; building on each host would cost twice).
  const plan = labPlan(stack, productionValues(lab.relay.ip), ['tlsCert', 'tlsKey']);
  await buildImages(plan);
  // By name, so `docker save` carries the tags the plan's containers name.
  images = Object.fromEntries(plan.images.map((i) => [i.role, i.imageName]));
  [siteA, siteB] = await launchSites(lab, pki.caPem);
}, 600_000);

afterAll(async () => {
  await siteA?.close();
  await siteB?.close();
  for (const e of engines) await e.stop();
  await lab?.destroy();
  if (pkiDir) rmSync(pkiDir, { recursive: true, force: true });
  await removeMachineImages(Object.values(images ?? {}) as string[]);
}, 120_000);

describe('the public relay host: its own engine, the shipped relay config', () => {
  let host: Host;
  beforeAll(async () => {
    host = await deployCoturn(lab.relay.ns, lab.relay.ip);
  }, 300_000);

  it('runs exactly the planned containers, on host networking, on the relay host', async () => {
    for (const [role, id] of Object.entries(host.ids)) {
      const info = JSON.parse(await host.engine.cli(['inspect', id]))[0];
      const planned = host.plan.containers.find((c) => c.role === role);
      expect(info.HostConfig.NetworkMode).toBe('host');
      expect(info.Name).toBe(`/${planned?.name}`);
      expect(info.State.Health.Status).toBe('healthy');
      expect(info.Config.Env).toEqual(
        expect.arrayContaining(Object.entries(planned?.env ?? {}).map(([k, v]) => `${k}=${v}`)),
      );
      // No test overlay: the relay runs the image's config and nothing else.
      expect(info.Config.Env.join('\n')).not.toContain('TURN_EXTRA_CONFIG');
    }
    expect(host.plan.outputs.turnUris).toEqual([
      `turn:${lab.relay.ip}:3478?transport=udp`,
      `turn:${lab.relay.ip}:3478?transport=tcp`,
      `turns:${lab.relay.ip}:5349?transport=tcp`,
    ]);
  });

  it('the service reads its secret files though the provider writes them root-owned, with the plan’s mode', async () => {
    const planned = host.plan.containers.find((c) => c.role === 'service');
    for (const path of ['/run/secrets/turn-secret', '/run/secrets/api-tokens']) {
      const mode = planned?.files.find((f) => f.path === path)?.mode.replace(/^0/, '');
      expect(
        (
          await host.engine.cli([
            'exec',
            host.ids.service as string,
            'stat',
            '-c',
            '%u:%g %a',
            path,
          ])
        ).trim(),
      ).toBe(`0:0 ${mode}`);
    }
  });

  it('the relay reads its secret files from the in-memory volume the service wrote, read-only and closed to other users', async () => {
    const relay = host.ids.coturn as string;
    const sh = (cmd: string, user?: string) =>
      host.engine.cli(['exec', ...(user ? ['-u', user] : []), relay, 'sh', '-c', cmd]);
    expect((await sh('stat -c "%u:%g %a" /run/relay-secrets')).trim()).toBe('10001:65534 750');
    expect((await sh('ls /run/relay-secrets')).trim().split('\n').sort()).toEqual([
      // The admin CLI's password (revocations), made by the service.
      'cli-password',
      'tls-cert.pem',
      'tls-key.pem',
      'turn-secret',
      'turn-secret-previous',
    ]);
    expect((await sh('cat /run/relay-secrets/turn-secret')).trim()).toBe(secrets.turnSecret);
    expect(await sh('touch /run/relay-secrets/x 2>&1 || true')).toMatch(/Read-only file system/);
    expect(await sh('cat /run/relay-secrets/turn-secret 2>&1 || true', '12345')).toMatch(
      /Permission denied/,
    );
    expect(
      (await sh('grep -c tmpfs /proc/mounts; grep " /run/relay-secrets " /proc/mounts')).trim(),
    ).toMatch(/^\d+\ntmpfs \/run\/relay-secrets tmpfs ro,/);
  });

  it('builds both images on the test stand-ins, named as such, never on an official tag', async () => {
    expect(host.plan.images.map((i) => i.buildArgs)).toEqual([
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

  it('the app backend gets the ICE servers from the service with the API token', async () => {
    const { status, body } = await backendIceServers(
      lab,
      `${host.plan.outputs.iceServersUrl}?user=alice`,
      secrets.apiToken as string,
    );
    expect(status).toBe(200);
    expect(body.iceServers.flatMap((s) => s.urls)).toEqual([
      ...host.plan.outputs.stunUris,
      ...host.plan.outputs.turnUris,
    ]);
    const wrong = await backendIceServers(
      lab,
      `${host.plan.outputs.iceServersUrl}?user=alice`,
      'x',
    );
    expect(wrong.status).toBe(401);
  });

  for (const transport of TRANSPORTS)
    it(
      `site A and site B (symmetric NAT) call each other through the relay over ${transport}`,
      () => calls(host, transport, `u${transport}`, lab.relay.ip),
      callsTimeout,
    );

  it('turns: is verified: a browser that does not trust the test CA gets no TLS relay candidate', async () => {
    const { body } = await backendIceServers(
      lab,
      `${host.plan.outputs.iceServersUrl}?user=frank`,
      secrets.apiToken as string,
    );
    const tls = onlyTransport(body.iceServers, 'tls');
    const untrusting = await launchLabChromium(lab.siteA.ns);
    try {
      expect(await firstRelayCandidate(await untrusting.newPage(), tls)).toBeNull();
    } finally {
      await untrusting.close();
    }
    const page = await siteA.newPage();
    expect(await firstRelayCandidate(page, tls)).toMatch(/ typ relay /);
    await page.context().close();
  });

  it('a wrong or an expired credential yields no relay candidate, and Coturn logs the 401', async () => {
    const { body } = await backendIceServers(
      lab,
      `${host.plan.outputs.iceServersUrl}?user=carol`,
      secrets.apiToken as string,
    );
    const [good] = onlyTransport(body.iceServers, 'udp') as [IceServer];
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
    const page: Page = await siteA.newPage();
    for (const server of [wrong, expired]) {
      expect(await firstRelayCandidate(page, [server])).toBeNull();
      const line = new RegExp(`user <${escapeRegExp(server.username as string)}>.*error 401`);
      await expect
        .poll(async () => line.test(await host.engine.cli(['logs', host.ids.coturn as string])), {
          timeout: 5000,
        })
        .toBe(true);
    }
    expect(await firstRelayCandidate(page, [good])).toMatch(/ typ relay /);
    await page.context().close();
  });

  it('neither the TURN secret, the API token nor the TLS key shows in docker inspect, docker history or logs', async () => {
    const { coturn, service } = host.ids as { coturn: string; service: string };
    const evidence = [
      await host.engine.cli(['inspect', coturn, service]),
      await host.engine.cli(['history', '--no-trunc', images.coturn as string]),
      await host.engine.cli(['history', '--no-trunc', images.service as string]),
      await host.engine.cli([
        'image',
        'inspect',
        images.coturn as string,
        images.service as string,
      ]),
      await host.engine.cli(['logs', coturn]),
      await host.engine.cli(['logs', service]),
    ].join('\n');
    expect(evidence).toContain('TURN_SECRET_FILE=/run/secrets/turn-secret');
    expect(evidence.length).toBeGreaterThan(10_000);
    const keyBody = (secrets.tlsKey as string).split('\n')[1] as string;
    for (const secret of [secrets.turnSecret, secrets.apiToken, keyBody])
      expect(evidence).not.toContain(secret);
  });

  describe('provider=metered and provider=stun, on the same host', () => {
    type FakeState = { url: string; secretKey: string; lastIssued?: { username: string } };
    let fake: FakeState;
    let states: () => FakeState[];
    let bundle: string;

    /** The fake Metered API on the relay host's loopback, where the service (host networking) reaches it. */
    async function startLabFake(delayMs = 0): Promise<() => FakeState[]> {
      let seen: FakeState[] = [];
      const child = lab.spawn(lab.relay.ns, ['node', bundle], {
        env: { FAKE_METERED_DELAY_MS: String(delayMs) },
      });
      let buffered = '';
      child.stdout?.on('data', (d) => {
        buffered += d;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        seen = [...seen, ...lines.map((l) => JSON.parse(l))];
      });
      for (let waited = 0; seen.length === 0; waited += 100) {
        if (waited > 20_000 || child.exitCode !== null)
          throw new Error('the fake Metered API did not start');
        await new Promise((r) => setTimeout(r, 100));
      }
      return () => seen;
    }

    /** The stack switched to Metered (the fake at `url`), with the host's certificate. */
    const meteredPlan = (url: string) =>
      labPlan(
        stack,
        productionValues(lab.relay.ip, {
          'turnkey:provider': 'metered',
          'turnkey:meteredApiUrl': url,
        }),
        ['meteredApiKey', 'tlsCert', 'tlsKey'],
      );

    beforeAll(async () => {
      await removeContainers(host.engine.api, Object.values(host.ids));
      bundle = join(pkiDir, 'fake-metered.js');
      await build({
        entryPoints: [join(__dirname, 'fake-metered-main.ts')],
        bundle: true,
        platform: 'node',
        outfile: bundle,
        logLevel: 'warning',
      });
      states = await startLabFake();
      fake = states()[0] as FakeState;
      secrets.meteredApiKey = fake.secretKey;
    }, 60_000);

    it('metered: the service hands out the ICE servers of the (fake) Metered API, and no Coturn runs', async () => {
      const metered = meteredPlan(fake.url);
      expect(metered.containers.map((c) => c.role)).toEqual(['service']);
      const ids = await realiseOn(host.engine, metered, images, secrets);
      const { status, body } = await backendIceServers(
        lab,
        `${metered.outputs.iceServersUrl}?user=alice`,
        secrets.apiToken as string,
      );
      expect(status).toBe(200);
      expect(body.iceServers.map((s) => s.urls[0])).toContain(
        'turn:global.relay.metered.example:80',
      );
      await expect.poll(() => states().at(-1)?.lastIssued?.username).toBeDefined();
      expect(body.iceServers.find((s) => s.username)?.username).toBe(
        states().at(-1)?.lastIssued?.username,
      );
      const running = await host.engine.cli(['ps', '--format', '{{.Names}}']);
      expect(running.trim().split('\n')).toEqual([`turnkey-${stack}-service`]);
      expect(await host.engine.cli(['inspect', ids.service as string])).not.toContain(
        fake.secretKey,
      );
      await removeContainers(host.engine.api, Object.values(ids));
    });

    it('stun: the service hands out STUN servers only', async () => {
      const stun = labPlan(
        stack,
        productionValues(lab.relay.ip, {
          'turnkey:provider': 'stun',
          'turnkey:stunUrls': `stun:${lab.relay.ip}:3478`,
        }),
        ['tlsCert', 'tlsKey'],
      );
      expect(stun.containers.map((c) => c.role)).toEqual(['service']);
      const ids = await realiseOn(host.engine, stun, images, secrets);
      const { body } = await backendIceServers(
        lab,
        `${stun.outputs.iceServersUrl}?user=alice`,
        secrets.apiToken as string,
      );
      expect(body.iceServers).toEqual([{ urls: [`stun:${lab.relay.ip}:3478`] }]);
      await removeContainers(host.engine.api, Object.values(ids));
    });

    /**
     * Stops the service as a replace or destroy stops it, while the backend's request is in
     * flight for about 3 s (a slow Metered: two calls of 1.5 s each).
     */
    async function stopDuringRequest(graceSeconds: number) {
      const slow = (await startLabFake(1500))()[0] as FakeState;
      const metered = meteredPlan(slow.url);
      const ids = await realiseOn(host.engine, metered, images, {
        ...secrets,
        meteredApiKey: slow.secretKey,
      });
      const id = ids.service as string;
      const request = backendIceServers(
        lab,
        `${metered.outputs.iceServersUrl}?user=alice`,
        secrets.apiToken as string,
      ).then(
        (res) => res.status,
        () => 'connection lost',
      );
      await new Promise((r) => setTimeout(r, 500));
      await stopContainer(host.engine.api, id, graceSeconds);
      const info = (await host.engine.api.call('GET', `/containers/${id}/json`)) as {
        State: { ExitCode: number };
      };
      await removeContainers(host.engine.api, [id]);
      return { status: await request, exitCode: info.State.ExitCode };
    }

    it('stopped with the plan’s grace, the service finishes the request in flight and exits 0', async () => {
      const planned = host.plan.containers.find((c) => c.role === 'service');
      expect(await stopDuringRequest(planned?.stopGraceSeconds as number)).toEqual({
        status: 200,
        exitCode: 0,
      });
    });

    it('stopped with the provider’s default (0 s), it would be killed mid-request', async () => {
      expect(await stopDuringRequest(0)).toEqual({ status: 'connection lost', exitCode: 137 });
    });
  });
});

describe('the cloud relay host behind 1:1 NAT: its own engine, EXTERNAL_IP as the deployment sets it', () => {
  let host: Host;
  beforeAll(async () => {
    host = await deployCoturn(lab.cloud.ns, lab.cloud.publicIp, {
      'turnkey:externalIp': `${lab.cloud.publicIp}/${lab.cloud.ip}`,
    });
  }, 300_000);

  it('the relay announces the public address', () => {
    const coturn = host.plan.containers.find((c) => c.role === 'coturn');
    expect(coturn?.env.EXTERNAL_IP).toBe(`${lab.cloud.publicIp}/${lab.cloud.ip}`);
  });

  for (const transport of TRANSPORTS)
    it(
      `site A and site B call each other through the cloud relay over ${transport}`,
      () => calls(host, transport, `c${transport}`, lab.cloud.publicIp),
      callsTimeout,
    );

  describe('pulumi up of a rotation and of a new certificate, applied as the provider does', () => {
    const values = (extra: Record<string, string> = {}) =>
      productionValues(lab.cloud.publicIp, {
        'turnkey:externalIp': `${lab.cloud.publicIp}/${lab.cloud.ip}`,
        ...extra,
      });
    let current: Realised;
    beforeAll(() => {
      current = { plan: host.plan, secrets: { ...secrets }, ids: host.ids };
    });
    /**
     * Applies the change; returns a check, for after the call has been heard from, that only
     * the service was replaced and the relay is the same container and turnserver process.
     */
    async function apply(plan: DeploymentPlan, next: Partial<Record<SecretName, string>>) {
      const relay = current.ids.coturn as string;
      const pid = await pidOf(host.engine, relay);
      const { realised, replaced } = await applyPlan(host.engine.api, current, plan, next, images);
      current = realised;
      host = { ...host, plan, ids: realised.ids as Record<string, string> };
      return async () => {
        expect(replaced).toEqual(['service']);
        expect(realised.ids.coturn).toBe(relay);
        expect(await pidOf(host.engine, relay)).toBe(pid);
      };
    }
    const relayLog = () => host.engine.cli(['logs', current.ids.coturn as string]);

    it('a secret rotation: the call relayed through it goes on, new credentials work once the relay has the new secret', async () => {
      const running = await openCall(host, 'udp', 'rotating');
      try {
        expectCallRelayedVia(running.result, lab.cloud.publicIp);
        const next = {
          ...current.secrets,
          turnSecret: alnum(),
          previousTurnSecret: current.secrets.turnSecret as string,
        };
        const untouched = await apply(
          labPlan(stack, values({ 'turnkey:secretGeneration': '2' }), TLS_KEYS),
          next,
        );
        await expectStillTalking(running, 'after the rotation');
        await untouched();
        await expect
          .poll(relayLog, { timeout: 10_000, interval: 500 })
          .toMatch(
            /secrets re-read from TURN_SECRET_FILE and TURN_SECRET_PREVIOUS_FILE: 2 accepted/,
          );
        expectRelayed(await call(host, 'udp', 'rotated'), 'udp', lab.cloud.publicIp);
      } finally {
        await running.close();
      }
    }, 180_000);

    it('a new certificate: new turns: handshakes present it, the TLS call made before goes on', async () => {
      const running = await openCall(host, 'tls', 'renewing');
      try {
        expectCallRelayedVia(running.result, lab.cloud.publicIp);
        expect(await presentedCertificate(lab, lab.cloud.publicIp, 5349)).toBe(
          fingerprintOf(current.secrets.tlsCert as string),
        );
        const renewed = pki.renew();
        const untouched = await apply(current.plan, {
          ...current.secrets,
          tlsCert: renewed.certPem,
          tlsKey: renewed.keyPem,
        });
        await expectStillTalking(running, 'after the renewal');
        await untouched();
        await expect
          .poll(() => presentedCertificate(lab, lab.cloud.publicIp, 5349), {
            timeout: 10_000,
            interval: 500,
          })
          .toBe(fingerprintOf(renewed.certPem));
        expectRelayed(await call(host, 'tls', 'renewed'), 'tls', lab.cloud.publicIp);
      } finally {
        await running.close();
      }
    }, 180_000);
  });
});
