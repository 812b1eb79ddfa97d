import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigSource, Role, SecretName } from '../../infra';
import { type FleetPlan, planFleet, readFleetConfig } from '../../infra';
import type { IceServer } from '../../service/providers/types';
import { bundle } from '../helpers/process';
import { applyPlan, buildImages, stopContainer } from '../helpers/realise';
import { REPO_ROOT } from '../helpers/stack';
import {
  type Call,
  exchange,
  expectCallRelayedVia,
  expectStillTalking,
  type LabBrowser,
  launchSites,
  startCall,
  talk,
} from './browser';
import {
  alnum,
  backendIceServers,
  onlyTransport,
  productionValues,
  realiseOn,
  removeMachineImages,
} from './deployment';
import { type LabEngine, startLabEngine } from './engine';
import { createLab, type Lab } from './lab';
import { makeTestPki, type TestPki } from './pki';

/**
 * A fleet from one stack in the lab: `turnkey:relays` with two relay hosts, each with its own
 * Docker engine (reached through its socket, as `dockerHost` reaches a remote one): the public
 * relay host as region eu-west and the cloud host behind 1:1 NAT as us-east. planFleet's
 * per-host plans are realised unchanged on the two engines. The app backend asks either
 * host's credential service (with a region hint or without), Chromium in the two NATed sites
 * calls through each relay; one relay container is stopped and started again.
 */

const stack = `fl${randomBytes(3).toString('hex')}`;
const secrets: Partial<Record<SecretName, string>> = { turnSecret: alnum(), apiToken: alnum() };
/** Probes every 5 s, each at most a few seconds: a dead relay is gone well within this. */
const DROP_WITHIN_MS = 15_000;

let lab: Lab;
let pki: TestPki;
let pkiDir: string;
let images: Partial<Record<Role, string>>;
let fleet: FleetPlan;
let siteA: LabBrowser;
let siteB: LabBrowser;
const engines: LabEngine[] = [];
/** Per host (fleet order): its engine and container ids by role. */
const hosts: { engine: LabEngine; ids: Record<string, string>; publicIp: string }[] = [];

const ask = async (host: number, query: string) => {
  const url = fleet.hosts[host]?.plan.outputs.iceServersUrl as string;
  return backendIceServers(lab, `${url}?${query}`, secrets.apiToken as string, pki.caFile);
};
/** The relay addresses in the TURN URIs a service hands out, in order. */
const relaysHandedOut = async (host: number, query: string) => {
  const { status, body } = await ask(host, query);
  if (status !== 200) return status;
  const turn = body.iceServers.find((s) => s.username);
  return [...new Set(turn?.urls.map((u) => /^turns?:([^:]+):/.exec(u)?.[1]))];
};
/** Only the URIs of one relay (by address) and one transport. */
const onlyRelay = (servers: IceServer[], ip: string) =>
  onlyTransport(servers, 'udp')
    .map((s) => ({ ...s, urls: s.urls.filter((u) => u.includes(`:${ip}:`)) }))
    .filter((s) => s.urls.length > 0);

const startCallWith = (servers: IceServer[]) => startCall([siteA, siteB], servers);

/**
 * The eu-west relay, back: within 30 s both services hand it out first for its region again,
 * and a call through it (credentials from the us-east host's service) connects.
 */
async function expectEuWestBack(pollUser: string, callUser: string) {
  for (const host of [0, 1])
    await expect
      .poll(() => relaysHandedOut(host, `user=${pollUser}&region=eu-west`), {
        timeout: 30_000,
        interval: 500,
      })
      .toEqual([lab.relay.ip, lab.cloud.publicIp]);
  const back = await ask(1, `user=${callUser}&relays=all`);
  const again = await startCallWith(onlyRelay(back.body.iceServers, lab.relay.ip));
  try {
    expectRelayedVia(again.result, lab.relay.ip);
  } finally {
    await again.close();
  }
}

/** Relayed through the relay at `ip` (the message names the relay, for a fleet's two). */
const expectRelayedVia = (result: Call['result'], ip: string) =>
  expectCallRelayedVia(result, ip, `via ${ip}: ${JSON.stringify(result)}`);

beforeAll(async () => {
  lab = await createLab('flt');
  pkiDir = mkdtempSync(join(tmpdir(), 'turnkey-lab-fleet-pki-'));
  // One certificate naming every relay's public address (docs/deploying.md "Fleet").
  pki = makeTestPki(pkiDir, { ips: [lab.relay.ip, lab.cloud.publicIp] });
  secrets.tlsCert = pki.certPem;
  secrets.tlsKey = pki.keyPem;
  for (const ns of [lab.relay.ns, lab.cloud.ns]) engines.push(await startLabEngine(ns));

  // The stack's config as `pulumi config set --path 'turnkey:relays[i]…'` stores it.
  secrets.fleetCaCert = pki.caPem;
  const { 'turnkey:publicHost': _single, ...values } = productionValues(lab.relay.ip, {
    // The hosts' services pass revocations on to each other over HTTPS, checked against it.
    'turnkey:fleetCaCert': pki.caPem,
    'turnkey:relays': JSON.stringify([
      { dockerHost: engines[0]?.host, publicHost: lab.relay.ip, region: 'eu-west' },
      {
        dockerHost: engines[1]?.host,
        publicHost: lab.cloud.publicIp,
        externalIp: `${lab.cloud.publicIp}/${lab.cloud.ip}`,
        region: 'us-east',
        name: 'us-east',
      },
    ]),
  });
  const source: ConfigSource = {
    get: (key) => values[`turnkey:${key}`],
    has: (key) => `turnkey:${key}` in values || ['tlsCert', 'tlsKey'].includes(key),
  };
  fleet = planFleet(readFleetConfig(source), { stack, projectRoot: REPO_ROOT });
  // Built once on the machine's engine from the unchanged Dockerfiles, then moved into each
  // host's engine (the lab has no registry).
  const first = fleet.hosts[0]?.plan;
  if (!first) throw new Error('no plan');
  await buildImages(first);
  images = Object.fromEntries(first.images.map((i) => [i.role, i.imageName]));
  for (const [i, host] of fleet.hosts.entries()) {
    const engine = engines[i] as LabEngine;
    // The dockerHost each relay names is this engine's socket.
    expect(host.dockerHost).toBe(engine.host);
    await engine.loadImages(Object.values(images) as string[]);
    const ids = await realiseOn(engine, host.plan, images, secrets);
    hosts.push({ engine, ids, publicIp: i === 0 ? lab.relay.ip : lab.cloud.publicIp });
  }
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

describe('a two-region fleet from one stack, each relay on its own Docker engine', () => {
  it('every host runs a relay and a credential service, which knows both relays', () => {
    expect(fleet.hosts.map((h) => [h.name, h.region])).toEqual([
      ['turnkey', 'eu-west'],
      ['turnkey-us-east', 'us-east'],
    ]);
    for (const h of hosts) expect(Object.keys(h.ids).sort()).toEqual(['coturn', 'service']);
    expect(fleet.outputs.iceServersUrls).toEqual([
      `https://${lab.relay.ip}:8080/v1/ice-servers`,
      `https://${lab.cloud.publicIp}:8080/v1/ice-servers`,
    ]);
  });

  it('a client with a region hint gets that region’s relay first, from either host; without one, the host’s own', async () => {
    for (const host of [0, 1]) {
      expect(await relaysHandedOut(host, 'user=alice&region=us-east')).toEqual([
        lab.cloud.publicIp,
        lab.relay.ip,
      ]);
      expect(await relaysHandedOut(host, 'user=alice&region=eu-west')).toEqual([
        lab.relay.ip,
        lab.cloud.publicIp,
      ]);
    }
    expect(await relaysHandedOut(0, 'user=alice')).toEqual([lab.relay.ip, lab.cloud.publicIp]);
    expect(await relaysHandedOut(1, 'user=alice')).toEqual([lab.cloud.publicIp, lab.relay.ip]);
    expect((await ask(0, 'user=alice&region=mars')).status).toBe(400);
  });

  it('Chromium in the two NATed sites connects over each relay', async () => {
    const { body } = await ask(0, 'user=bob&relays=all');
    for (const ip of [lab.relay.ip, lab.cloud.publicIp]) {
      const call = await startCallWith(onlyRelay(body.iceServers, ip));
      try {
        expectRelayedVia(call.result, ip);
      } finally {
        await call.close();
      }
    }
  });

  it('one revoke call to one host ends the user’s calls on both relays within 5 s, refuses them credentials on both hosts, leaves another user’s call alone, and lets them back when it ends', async () => {
    const banned = `banned-${randomBytes(3).toString('hex')}`;
    const other = `other-${randomBytes(3).toString('hex')}`;
    const bannedServers = (await ask(0, `user=${banned}&relays=all`)).body.iceServers;
    const otherServers = (await ask(1, `user=${other}&relays=all`)).body.iceServers;
    const calls = [];
    try {
      // Both sides forced to relay, so each side's own allocation carries the call. With the
      // default policy one side may reach the other's relayed address from its NAT address and
      // leave its own allocation unused, and a relay then counted 1 session, not 2, in CI.
      for (const ip of [lab.relay.ip, lab.cloud.publicIp]) {
        const call = await startCall([siteA, siteB], onlyRelay(bannedServers, ip), {
          policy: 'relay',
        });
        calls.push(call);
        expectRelayedVia(call.result, ip);
      }
      const untouched = await startCallWith(onlyRelay(otherServers, lab.relay.ip));
      calls.push(untouched);
      expectRelayedVia(untouched.result, lab.relay.ip);

      const started = Date.now();
      const url = fleet.hosts[0]?.plan.outputs.iceServersUrl as string;
      const r = await lab.exec(
        lab.backend.ns,
        [
          process.execPath,
          bundle('cli/main.ts'),
          'revoke',
          '--url',
          url,
          '--user',
          banned,
          '--for',
          '20s',
          '--ca',
          pki.caFile,
        ],
        { env: { TURNKEY_API_TOKEN: secrets.apiToken as string }, timeoutMs: 30_000 },
      );
      expect(r.code, r.stdout + r.stderr).toBe(0);
      // The call returns once both relays ended the sessions: within 5 s of making it.
      expect(Date.now() - started).toBeLessThan(5000);
      // Both relays confirmed, each ending the two allocations of its call.
      expect(r.stdout).toMatch(
        new RegExp(`^  ${lab.relay.ip.replaceAll('.', '\\.')}: 2 sessions ended$`, 'm'),
      );
      expect(r.stdout).toMatch(
        new RegExp(`^  ${lab.cloud.publicIp.replaceAll('.', '\\.')}: 2 sessions ended$`, 'm'),
      );
      // Neither of the user's calls delivers a message any more, within 5 s of the call.
      for (const call of calls.slice(0, 2)) {
        const [a] = await Promise.all([
          exchange(call.a, 'A revoked', 'B revoked', { connectMs: 1000, deliverMs: 2000 }),
          exchange(call.b, 'B revoked', 'A revoked', { connectMs: 1000, deliverMs: 2000 }),
        ]);
        expect(a.received, JSON.stringify(a)).not.toBe('B revoked');
      }
      for (const host of [0, 1]) {
        const refused = await ask(host, `user=${banned}`);
        expect(refused.status).toBe(403);
        expect(JSON.stringify(refused.body)).toMatch(/"error":"revoked".*is revoked until 20\d\d-/);
      }
      await expectStillTalking(untouched, 'during the revocation');

      // When it ends: credentials again, and a call through a relay connects.
      await expect
        .poll(async () => (await ask(1, `user=${banned}`)).status, {
          timeout: 30_000,
          interval: 1000,
        })
        .toBe(200);
      const back = await ask(0, `user=${banned}&relays=all`);
      const again = await startCallWith(onlyRelay(back.body.iceServers, lab.cloud.publicIp));
      calls.push(again);
      expectRelayedVia(again.result, lab.cloud.publicIp);
      await new Promise((res) => setTimeout(res, 3000));
      await expectStillTalking(again, 'after the revocation');
    } finally {
      for (const c of calls) await c.close();
    }
  }, 180_000);

  it('keeps each relay’s admin CLI on its host’s loopback: nothing on another host reaches it', async () => {
    for (const [ns, ip] of [
      [lab.relay.ns, lab.relay.ip],
      [lab.cloud.ns, lab.cloud.ip],
    ] as const) {
      const listening = await lab.exec(ns, ['ss', '-Hltn', 'sport = :5766']);
      expect(
        listening.stdout
          .trim()
          .split('\n')
          .map((l) => l.split(/\s+/)[3]),
      ).toEqual(['127.0.0.1:5766']);
      expect(ip).not.toBe('127.0.0.1');
    }
    for (const target of [lab.relay.ip, lab.cloud.publicIp]) {
      const r = await lab.exec(lab.backend.ns, ['bash', '-c', `exec 3<>/dev/tcp/${target}/5766`], {
        timeoutMs: 5000,
      });
      expect(r.code, `${target}: ${r.stderr}`).not.toBe(0);
      expect(r.stderr).toMatch(/refused/i);
    }
  });

  it('a stopped relay is handed out by no service within 15 s, new calls go through the other, a running call on it is untouched; started again, it is handed out again', async () => {
    // A call already running on the surviving relay (us-east, the cloud host).
    const { body } = await ask(1, 'user=carol&region=us-east');
    const running = await startCallWith(onlyRelay(body.iceServers, lab.cloud.publicIp));
    try {
      expectRelayedVia(running.result, lab.cloud.publicIp);

      const eu = hosts[0] as (typeof hosts)[number];
      await stopContainer(eu.engine.api, eu.ids.coturn as string, 15);
      const stopped = Date.now();
      for (const host of [0, 1])
        await expect
          .poll(() => relaysHandedOut(host, 'user=dave&relays=all'), {
            timeout: DROP_WITHIN_MS - (Date.now() - stopped),
            interval: 500,
          })
          .toEqual([lab.cloud.publicIp]);
      expect(Date.now() - stopped).toBeLessThan(DROP_WITHIN_MS);
      // Even asked for eu-west, from eu-west's own service: only the healthy relay.
      expect(await relaysHandedOut(0, 'user=dave&region=eu-west')).toEqual([lab.cloud.publicIp]);

      // A new call with what the eu-west host's service now hands out connects via us-east.
      const fresh = await ask(0, 'user=erin');
      const call = await startCallWith(onlyTransport(fresh.body.iceServers, 'udp'));
      try {
        expectRelayedVia(call.result, lab.cloud.publicIp);
      } finally {
        await call.close();
      }

      // The running call never noticed.
      const [a, b] = await talk(running, 2);
      expect(a).toMatchObject({ received: 'B 2', iceState: 'connected', channelState: 'open' });
      expect(b).toMatchObject({ received: 'A 2', iceState: 'connected', channelState: 'open' });

      await eu.engine.api.call('POST', `/containers/${eu.ids.coturn}/start`);
      await expectEuWestBack('frank', 'grace');
    } finally {
      await running.close();
    }
  });

  it('a relay image update drains it: its running call goes on, new calls go to the other host, the new relay is handed out again', async () => {
    const eu = hosts[0] as (typeof hosts)[number];
    const plan = fleet.hosts[0]?.plan as FleetPlan['hosts'][number]['plan'];
    const { body } = await ask(0, 'user=dan&region=eu-west');
    const running = await startCallWith(onlyRelay(body.iceServers, lab.relay.ip));
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await running.close();
    };
    try {
      expectRelayedVia(running.result, lab.relay.ip);
      // A new relay image under the same tag (a rebuilt Dockerfile or a new base gives one).
      await rebuild(eu.engine, images.coturn as string);
      // pulumi up: the relay's container is replaced, stopped with SIGUSR1 and the drain grace.
      const applying = applyPlan(
        eu.engine.api,
        { plan, secrets, ids: eu.ids },
        plan,
        secrets,
        images,
      );
      const started = Date.now();
      for (const host of [0, 1])
        await expect
          .poll(() => relaysHandedOut(host, 'user=erin&region=eu-west'), {
            timeout: DROP_WITHIN_MS,
            interval: 500,
          })
          .toEqual([lab.cloud.publicIp]);
      expect(Date.now() - started).toBeLessThan(DROP_WITHIN_MS);
      const fresh = await ask(0, 'user=frank&region=eu-west');
      const call = await startCallWith(onlyTransport(fresh.body.iceServers, 'udp'));
      try {
        expectRelayedVia(call.result, lab.cloud.publicIp);
      } finally {
        await call.close();
      }

      // Through the draining relay, the call in progress goes on.
      const [a, b] = await talk(running, 3);
      const seen = JSON.stringify({ a, b });
      expect(a, seen).toMatchObject({ received: 'B 3', iceState: 'connected' });
      expect(b, seen).toMatchObject({ received: 'A 3', iceState: 'connected' });
      for (const side of [a, b]) expect(side.times['ice:disconnected'], seen).toBeUndefined();

      // It ends; with no allocation left the old relay exits and the new one starts.
      await close();
      const { realised, replaced } = await applying;
      expect(replaced).toEqual(['coturn']);
      eu.ids = realised.ids as Record<string, string>;
      await expectEuWestBack('grace', 'heidi');
    } finally {
      await close();
    }
  }, 240_000);
});

/** Gives `tag` another image id on this engine: the same image plus a label. */
async function rebuild(engine: LabEngine, tag: string) {
  const tar = pack();
  tar.entry({ name: 'Dockerfile' }, `FROM ${tag}\nLABEL org.turnkey.test.revision=${Date.now()}\n`);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  const lines = await engine.api.stream(
    'POST',
    `/build?${new URLSearchParams({ t: tag, q: '1' })}`,
    Buffer.concat(chunks),
    'application/x-tar',
  );
  const failure = lines.find((l) => l.error !== undefined);
  if (failure) throw new Error(`rebuilding ${tag}: ${JSON.stringify(failure.error)}`);
}
