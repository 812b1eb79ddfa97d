import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role, SecretName } from '../../infra';
import standIns from '../docker/stand-ins.json';
import { buildImages } from '../helpers/realise';
import { stackConfigValues } from '../helpers/stack';
import { type LabBrowser, launchLabChromium } from './browser';
import { alnum, labPlan, type RelayTransport, realiseOn, removeMachineImages } from './deployment';
import { expectCheckPasses, expectRelayedCall } from './dev-machine';
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
      await expectRelayedCall(lab, chromium, iceServersUrl, secrets.apiToken as string, transport);
    }, 120_000);

  // Before the loopback-only allowance: permission refused (403) on every TURN URI.
  it('turnkey check passes against it: every URI relays', async () => {
    await expectCheckPasses(lab, machine(), iceServersUrl, { env: secrets.apiToken as string });
  }, 120_000);
});
