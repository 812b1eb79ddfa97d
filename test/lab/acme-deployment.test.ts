import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentPlan, Role, SecretName } from '../../infra';
import { applyPlan, buildImages, type Realised } from '../helpers/realise';
import { type LabAcme, startAcme } from './acme';
import {
  expectCallRelayedVia,
  expectStillTalking,
  type LabBrowser,
  launchSites,
  startCall,
} from './browser';
import {
  alnum,
  backendIceServers,
  labPlan,
  onlyTransport,
  pidOf,
  presentedCertificate,
  productionValues,
  realiseOn,
  removeMachineImages,
} from './deployment';
import { type LabEngine, startLabEngine } from './engine';
import { createLab, type Lab } from './lab';

/**
 * `turnkey:acmeEmail` end to end: the plan with no certificate, on the relay host's own engine,
 * the lab's CA (Pebble) validating port 80 of turn.lab.test over the lab network. The service
 * obtains the certificate, serves it on the API and hands it to the relay for turns:; Chromium,
 * trusting the CA's root, calls over turns: only. Pebble issues certificates valid for
 * VALIDITY seconds, so the renewal (a third of the lifetime before the end) comes during the
 * test, with the call running; then a pulumi up that replaces the service reuses what the
 * volume kept.
 */

const VALIDITY = 90;
const stack = `acme${randomBytes(3).toString('hex')}`;

let lab: Lab;
let acme: LabAcme;
let dir: string;
let rootFile: string;
let engine: LabEngine;
let images: Partial<Record<Role, string>>;
let siteA: LabBrowser;
let siteB: LabBrowser;
let current: Realised;

const secrets: Partial<Record<SecretName, string>> = { turnSecret: alnum(), apiToken: alnum() };
const values = (extra: Record<string, string> = {}) =>
  productionValues(acme.names.relay, {
    'turnkey:acmeEmail': 'ops@lab.test',
    'turnkey:acmeDirectoryUrl': acme.directoryUrl,
    'turnkey:acmeCaCert': acme.listenerCaPem,
    ...extra,
  });

const apiUrl = () => current.plan.outputs.iceServersUrl;
const served = (port: number) => presentedCertificate(lab, lab.relay.ip, port, acme.names.relay);
const serviceLog = () => engine.cli(['logs', current.ids.service as string]);
/** The service's metrics, from the relay host (they listen on its loopback). */
const metrics = async () =>
  (await lab.exec(lab.relay.ns, ['curl', '-sS', 'http://127.0.0.1:9464/metrics'])).stdout;
const metric = (text: string, series: string) =>
  Number(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);

beforeAll(async () => {
  lab = await createLab('ad');
  acme = await startAcme(lab, { validitySeconds: VALIDITY });
  dir = mkdtempSync(join(tmpdir(), 'turnkey-acme-dep-'));
  const root = await acme.rootPem();
  rootFile = join(dir, 'pebble-root.pem');
  writeFileSync(rootFile, root);
  secrets.acmeCaCert = acme.listenerCaPem;
  const plan = labPlan(stack, values());
  await buildImages(plan);
  images = Object.fromEntries(plan.images.map((i) => [i.role, i.imageName]));
  engine = await startLabEngine(lab.relay.ns);
  await engine.loadImages(Object.values(images) as string[]);
  // Browsers trust Pebble's root, as a user's trusts Let's Encrypt's.
  [siteA, siteB] = await launchSites(lab, root);
}, 600_000);

afterAll(async () => {
  await siteA?.close();
  await siteB?.close();
  await engine?.stop();
  await lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await removeMachineImages(Object.values(images ?? {}) as string[]);
}, 120_000);

describe('a stack with turnkey:acmeEmail and no certificate', () => {
  let first: string;

  it('deploys: the service obtains a certificate for publicHost and serves it on the API and turns:', async () => {
    const plan: DeploymentPlan = labPlan(stack, values());
    expect(plan.secrets).not.toContain('tlsCert');
    const ids = await realiseOn(engine, plan, images, secrets);
    current = { plan, secrets: { ...secrets }, ids };
    await expect
      .poll(serviceLog, { timeout: 10_000 })
      .toMatch(/ACME: certificate issued for turn\.lab\.test/);

    // The app's backend verifies the API against the CA's root, by name.
    const { status, body } = await backendIceServers(
      lab,
      `${apiUrl()}?user=alice`,
      secrets.apiToken as string,
      rootFile,
    );
    expect(apiUrl()).toBe('https://turn.lab.test:8080/v1/ice-servers');
    expect(status).toBe(200);
    expect(body.iceServers.flatMap((s) => s.urls)).toContain(
      'turns:turn.lab.test:5349?transport=tcp',
    );
    first = await served(8080);
    expect(first).toMatch(/^[0-9A-F:]{95}$/);
    await expect.poll(() => served(5349), { timeout: 15_000 }).toBe(first);
  }, 180_000);

  it('renews with a call running over turns:: both endpoints switch, the call goes on, nothing restarts', async () => {
    const relay = current.ids.coturn as string;
    const service = current.ids.service as string;
    const relayPid = await pidOf(engine, relay);
    const { body } = await backendIceServers(
      lab,
      `${apiUrl()}?user=renewing`,
      secrets.apiToken as string,
      rootFile,
    );
    const call = await startCall([siteA, siteB], onlyTransport(body.iceServers, 'tls'));
    try {
      expectCallRelayedVia(call.result, lab.relay.ip);
      // Due a third of the lifetime before the end: within VALIDITY of the first.
      await expect
        .poll(() => served(8080), { timeout: VALIDITY * 1000, interval: 2_000 })
        .not.toBe(first);
      const renewed = await served(8080);
      await expect.poll(() => served(5349), { timeout: 15_000, interval: 1_000 }).toBe(renewed);
      await expectStillTalking(call, 'after the renewal');
      expect(await pidOf(engine, relay)).toBe(relayPid);
      const running = await engine.cli(['ps', '-q', '--no-trunc']);
      expect(running).toContain(relay);
      expect(running).toContain(service);

      const text = await metrics();
      expect(metric(text, 'turnkey_acme_renewals_total{outcome="issued"}')).toBeGreaterThanOrEqual(
        2,
      );
      expect(metric(text, 'turnkey_acme_renewals_total{outcome="failed"}')).toBe(0);
      // The gauges carry the served certificate's notAfter (the relay's once seen on turns:).
      const expiry = metric(
        text,
        'turnkey_certificate_expiry_timestamp_seconds{endpoint="service"}',
      );
      expect(expiry * 1000).toBeGreaterThan(Date.now());
      expect(expiry * 1000).toBeLessThanOrEqual(Date.now() + VALIDITY * 1000);
      await expect
        .poll(
          async () =>
            metric(
              await metrics(),
              'turnkey_certificate_expiry_timestamp_seconds{endpoint="relay"}',
            ),
          {
            timeout: 15_000,
          },
        )
        .toBeGreaterThan(Date.now() / 1000);
    } finally {
      await call.close();
    }
  }, 240_000);

  it('/readyz names a certificate within a week of expiry (with the token), and stays ready', async () => {
    const r = await lab.exec(
      lab.backend.ns,
      ['curl', '-sS', '--cacert', rootFile, '-K', '-', `https://turn.lab.test:8080/readyz`],
      { input: `header = "Authorization: Bearer ${secrets.apiToken}"\n` },
    );
    const ready = JSON.parse(r.stdout);
    expect(ready.status).toBe('ready');
    expect(ready.certificate).toMatchObject({
      warning: 'the certificate expires in less than 7 days',
      acme: { domains: ['turn.lab.test'] },
    });
    expect(Date.parse(ready.certificate.notAfter)).toBeGreaterThan(Date.now());
  }, 30_000);

  it('a pulumi up that replaces the service reuses the account and certificate the volume kept', async () => {
    const before = await served(8080);
    const relay = current.ids.coturn as string;
    const next = {
      ...current.secrets,
      turnSecret: alnum(),
      previousTurnSecret: current.secrets.turnSecret as string,
    };
    const { realised, replaced } = await applyPlan(
      engine.api,
      current,
      labPlan(stack, values({ 'turnkey:secretGeneration': '2' })),
      next,
      images,
    );
    current = realised;
    expect(replaced).toEqual(['service']);
    expect(realised.ids.coturn).toBe(relay);
    const log = await serviceLog();
    expect(log).toMatch(/ACME: serving the certificate kept in ACME_STATE_DIR/);
    expect(log).not.toMatch(/ACME: ordering a certificate/);
    // Unless the next renewal came in between, it serves what the old one did.
    const now = await served(8080);
    if (now !== before) expect(log).toMatch(/ACME: certificate issued/);
    // And no key ever appears in what Docker shows of the container.
    const inspect = await engine.cli(['inspect', current.ids.service as string]);
    expect(inspect).not.toContain('PRIVATE KEY');
    expect(log).not.toContain('PRIVATE KEY');
  }, 180_000);
});
