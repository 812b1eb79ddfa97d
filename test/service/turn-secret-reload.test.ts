import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeTurn } from '../helpers/fake-turn';
import { escapeRegExp } from '../helpers/regexp';
import { get, metricSample, randomToken, startTestService } from '../helpers/service';

/**
 * A rotated TURN secret under a running coturn (or fleet) service: TURN_SECRET_FILE rewritten,
 * credentials minted afterwards are signed with the new secret and /readyz allocates with it; a
 * secret start-up would refuse is kept out and shown (log line, metric, /readyz with the token).
 */

const TOKEN = randomToken();
// 48 hex characters each, as `openssl rand -hex 24` makes them.
const OLD = randomToken();
const NEW = randomToken();
const dir = mkdtempSync(join(tmpdir(), 'turnkey-secret-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The relay rotated first: it knows only the new secret, so readiness tells which one is used.
let relay: Awaited<ReturnType<typeof startFakeTurn>>;
beforeAll(async () => {
  relay = await startFakeTurn({ secret: NEW });
});
afterAll(async () => relay?.close());

type Service = Awaited<ReturnType<typeof startTestService>>;
let svc: Service | undefined;
afterEach(async () => {
  await svc?.service.close();
  svc = undefined;
});

const hmac = (secret: string, username: string) =>
  createHmac('sha1', secret).update(username).digest('base64');

function secretFile(name: string, secret: string): string {
  const file = join(dir, name);
  writeFileSync(file, `${secret}\n`);
  return file;
}

async function credential(s: Service) {
  const res = await get(`${s.url}/v1/ice-servers?user=alice`, { token: TOKEN });
  expect(res.status).toBe(200);
  const turn = (res.json().iceServers as { username?: string; credential?: string }[]).find(
    (i) => i.username,
  );
  return turn as { username: string; credential: string };
}

const readyz = async (s: Service, token?: string) => {
  const res = await get(`${s.url}/readyz`, token === undefined ? {} : { token });
  return { status: res.status, body: res.json() };
};

/** Neither secret, nor a refused one, nor any credential handed out, in any line. */
function expectNoSecrets(s: Service, secrets: string[]) {
  const text = s.logs.text();
  for (const secret of secrets) expect(text).not.toContain(secret);
}

describe('a rotated TURN secret is signed with without a restart', () => {
  it('coturn: within 10 s, credentials verify with the new secret and not the old, and /readyz allocates with it', async () => {
    const file = secretFile('coturn', OLD);
    svc = await startTestService({
      TURN_PROVIDER: 'coturn',
      TURN_SECRET_FILE: file,
      TURN_URLS: `turn:127.0.0.1:${relay.port}`,
      API_TOKENS: TOKEN,
    }); // the real poll interval
    const before = await credential(svc);
    expect(before.credential).toBe(hmac(OLD, before.username));
    expect(await readyz(svc)).toEqual({
      status: 503,
      body: { status: 'not_ready', cause: 'relay_refused' },
    });

    writeFileSync(file, `${NEW}\n`);
    // Within the 5 s readiness cache too: a verdict reached with the old secret is dropped.
    await expect
      .poll(async () => (await readyz(svc as Service)).status, { timeout: 10_000 })
      .toBe(200);
    const after = await credential(svc);
    expect(after.credential).toBe(hmac(NEW, after.username));
    expect(after.credential).not.toBe(hmac(OLD, after.username));
    expect(svc.logs.parsed()).toContainEqual(
      expect.objectContaining({ level: 'info', msg: 'TURN secret reloaded from TURN_SECRET_FILE' }),
    );
    expect(
      await metricSample(
        svc.service,
        'turnkey_reloads_total',
        'material="turn_secret",outcome="applied"',
      ),
    ).toBe(1);
    expectNoSecrets(svc, [OLD, NEW, before.credential, after.credential]);
  });

  it('a fleet: its relays are probed again with the new secret, and it signs with it', async () => {
    const file = secretFile('fleet', OLD);
    svc = await startTestService(
      {
        TURN_PROVIDER: 'coturn',
        TURN_SECRET_FILE: file,
        TURN_RELAYS: JSON.stringify([
          { region: 'eu-west', urls: [`turn:127.0.0.1:${relay.port}?transport=udp`] },
        ]),
        API_TOKENS: TOKEN,
      },
      { reloadIntervalMs: 100 },
    );
    expect((await readyz(svc)).body).toEqual({ status: 'not_ready', cause: 'no_healthy_relay' });

    writeFileSync(file, NEW);
    // Well before the fleet's next scheduled probe (5 s): the rotation itself starts one.
    await expect
      .poll(async () => (await readyz(svc as Service)).status, { timeout: 4000 })
      .toBe(200);
    const after = await credential(svc);
    expect(after.credential).toBe(hmac(NEW, after.username));
    expectNoSecrets(svc, [OLD, NEW, after.credential]);
  });
});

describe('a changed TURN secret start-up would refuse is kept out and shown', () => {
  it('too short: the old secret stays, named in the log, the metric and /readyz; a good one clears it', async () => {
    const file = secretFile('invalid', NEW);
    svc = await startTestService(
      {
        TURN_PROVIDER: 'coturn',
        TURN_SECRET_FILE: file,
        TURN_URLS: `turn:127.0.0.1:${relay.port}`,
        API_TOKENS: TOKEN,
      },
      { reloadIntervalMs: 100 },
    );
    const errors = () => svc?.logs.parsed().filter((l) => l.level === 'error') ?? [];
    const SHORT = 'short-1234';

    writeFileSync(file, SHORT);
    await expect.poll(() => errors().length, { timeout: 10_000 }).toBe(1);
    expect(errors()[0]).toMatchObject({
      material: 'turn_secret',
      variable: 'TURN_SECRET_FILE',
      file,
      msg: expect.stringMatching(
        new RegExp(
          `^TURN_SECRET_FILE ${escapeRegExp(file)}: the secret is too short: use at least 32 characters.*; keeping the secret loaded at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z$`,
        ),
      ),
    });
    const kept = await credential(svc);
    expect(kept.credential).toBe(hmac(NEW, kept.username));
    expect(
      await metricSample(
        svc.service,
        'turnkey_reloads_total',
        'material="turn_secret",outcome="failed"',
      ),
    ).toBe(1);
    const full = await readyz(svc, TOKEN);
    expect(full.status).toBe(200);
    expect(full.body).toMatchObject({ status: 'ready', cause: 'ready', provider: 'coturn' });
    expect(full.body.reload).toEqual([
      expect.objectContaining({
        material: 'turn_secret',
        variable: 'TURN_SECRET_FILE',
        file,
        error: expect.stringMatching(/^the secret is too short/),
      }),
    ]);
    for (const token of [undefined, randomToken()])
      expect(await readyz(svc, token)).toEqual({
        status: 200,
        body: { status: 'ready', cause: 'ready' },
      });

    const NEXT = NEW.toUpperCase();
    writeFileSync(file, NEXT);
    const applied = () =>
      svc?.logs.parsed().filter((l) => l.msg === 'TURN secret reloaded from TURN_SECRET_FILE');
    await expect.poll(() => applied()?.length, { timeout: 10_000 }).toBe(1);
    const next = await credential(svc);
    expect(next.credential).toBe(hmac(NEXT, next.username));
    expect((await readyz(svc, TOKEN)).body).not.toHaveProperty('reload');
    expectNoSecrets(svc, [NEW, NEXT, SHORT, kept.credential, next.credential]);
  });
});
