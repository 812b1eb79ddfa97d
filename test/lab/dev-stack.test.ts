import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role, SecretName } from '../../infra';
import standIns from '../docker/stand-ins.json';
import { bundle } from '../helpers/process';
import { buildImages } from '../helpers/realise';
import { stackConfigValues } from '../helpers/stack';
import { type LabBrowser, launchLabChromium, startCall } from './browser';
import {
  alnum,
  backendIceServers,
  labPlan,
  onlyTransport,
  type RelayTransport,
  realiseOn,
  removeMachineImages,
} from './deployment';
import { type LabEngine, startLabEngine } from './engine';
import { createLab, type Lab } from './lab';

/**
 * The dev stack (Pulumi.dev.yaml, unchanged but for the local base images) on a developer's
 * machine: a lab host with its own Docker engine stands in for it, so nothing but loopback
 * is involved. Two Chromium pages on that machine, forcing relayed candidates as an app
 * testing its TURN path does, call each other through the dev relay, and `turnkey check`
 * against the dev stack passes: the relay listens and relays on 127.0.0.1 only, so its own
 * loopback address is an allowed peer (coturn/entrypoint.sh loopback_only).
 */

const stack = `dev${randomBytes(3).toString('hex')}`;
const secrets: Partial<Record<SecretName, string>> = { turnSecret: alnum(), apiToken: alnum() };
const values = {
  ...stackConfigValues('dev'),
  'turnkey:nodeImage': standIns.nodeImage,
  'turnkey:coturnImage': standIns.coturnImage,
};

let lab: Lab;
let engine: LabEngine;
let images: Partial<Record<Role, string>>;
let chromium: LabBrowser;
let iceServersUrl: string;
/** The developer's machine. */
const machine = () => lab.backend.ns;

beforeAll(async () => {
  lab = await createLab('dv');
  const plan = labPlan(stack, values);
  await buildImages(plan);
  images = Object.fromEntries(plan.images.map((i) => [i.role, i.imageName]));
  engine = await startLabEngine(machine());
  await engine.loadImages(Object.values(images) as string[]);
  await realiseOn(engine, plan, images, secrets);
  iceServersUrl = plan.outputs.iceServersUrl;
  chromium = await launchLabChromium(machine());
}, 600_000);

afterAll(async () => {
  await chromium?.close();
  await engine?.stop();
  await lab?.destroy();
  await removeMachineImages(Object.values(images ?? {}) as string[]);
}, 120_000);

describe('the dev stack on a developer’s machine', () => {
  it('hands out ICE servers on loopback over plain HTTP', () => {
    expect(iceServersUrl).toBe('http://127.0.0.1:8080/v1/ice-servers');
  });

  for (const transport of ['udp', 'tcp'] as RelayTransport[])
    it(`two tabs forcing relay candidates call each other through the dev relay over ${transport}`, async () => {
      const { status, body } = await backendIceServers(
        lab,
        `${iceServersUrl}?user=dev${transport}`,
        secrets.apiToken as string,
      );
      expect(status).toBe(200);
      const call = await startCall(
        [chromium, chromium],
        onlyTransport(body.iceServers, transport),
        {
          policy: 'relay',
        },
      );
      try {
        const seen = JSON.stringify(call.result);
        expect(call.result.a.received, seen).toBe('hello from site B');
        expect(call.result.b.received, seen).toBe('hello from site A');
        for (const side of [call.result.a, call.result.b]) {
          expect(side.selected?.local?.candidateType, seen).toBe('relay');
          expect(side.selected?.local?.address, seen).toBe('127.0.0.1');
          expect(side.selected?.local?.relayProtocol, seen).toBe(transport);
        }
      } finally {
        await call.close();
      }
    }, 120_000);

  it('turnkey check passes against it: every URI relays', async () => {
    const r = await lab.exec(
      machine(),
      [process.execPath, bundle('service/check/cli.ts'), 'check', '--url', iceServersUrl, '--json'],
      { env: { TURNKEY_API_TOKEN: secrets.apiToken as string }, timeoutMs: 90_000 },
    );
    const report = JSON.parse(r.stdout) as { results: { scheme: string; outcome: string }[] };
    // STUN answers; every TURN URI relays data (before: permission refused, 403).
    expect(
      report.results.map((x) => [x.scheme, x.outcome]),
      r.stdout,
    ).toEqual(report.results.map((x) => [x.scheme, x.scheme === 'stun' ? 'answered' : 'relayed']));
    expect(report.results.filter((x) => x.scheme === 'turn')).toHaveLength(2);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }, 120_000);
});
