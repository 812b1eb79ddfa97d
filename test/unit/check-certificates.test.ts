import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { main } from '../../service/check/cli';
import { exitCode, formatReport } from '../../service/check/report';
import { type CheckReport, runCheck } from '../../service/check/run';
import { type DatedPki, daysFromNow, type Leaf, makeDatedPki } from '../helpers/dated-pki';
import { type FakeTurns, startFakeTurns } from '../helpers/fake-turns';
import { serveIceServers } from '../helpers/ice-servers-endpoint';
import { escapeRegExp } from '../helpers/regexp';

/**
 * `turnkey check` reads the certificate of the https API and of each turns: listener and says
 * when it expires: real TLS listeners on 127.0.0.1 (an ice-servers endpoint and a relaying
 * turns: stand-in) serving certificates of chosen dates from a test CA.
 */

const dir = mkdtempSync(join(tmpdir(), 'turnkey-check-certs-'));
const pki: DatedPki = makeDatedPki(dir);
const caFile = join(dir, 'ca-bundle.pem');
writeFileSync(caFile, pki.caPem);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const current = pki.leaf({ days: 30 });
const expired = pki.leaf({ notBefore: daysFromNow(-30), notAfter: daysFromNow(-2) });

/** notAfter (or notBefore) as the report prints it, read from the PEM rather than a socket. */
const iso = (leaf: Leaf, field: 'validTo' | 'validFrom' = 'validTo') =>
  new Date(new X509Certificate(leaf.cert)[field]).toISOString();
const re = (text: string) => escapeRegExp(text);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function relay(leaf: Leaf): Promise<FakeTurns> {
  const turns = await startFakeTurns(leaf);
  cleanups.push(() => turns.close());
  return turns;
}

/** An ice-servers endpoint handing out one turns: URI, over https with `leaf`, else http. */
async function api(leaf: Leaf | undefined, turnsPort: number): Promise<string> {
  const endpoint = await serveIceServers([`turns:127.0.0.1:${turnsPort}?transport=tcp`], leaf);
  cleanups.push(endpoint.close);
  return endpoint.url;
}

async function check(url: string, ...extra: string[]) {
  const out: string[] = [];
  const code = await main(
    ['check', '--url', url, '--token', 't', '--ca', caFile, '--timeout', '2000', ...extra],
    { out: (t) => out.push(t), err: (t) => out.push(t), env: {} },
  );
  return { code, text: out.join('\n') };
}

const origin = (url: string) => new URL(url).origin;

describe('turnkey check: certificate expiry', () => {
  it('prints each endpoint’s expiry, and exits 0 when both are current', async () => {
    const turns = await relay(current);
    const url = await api(current, turns.port);
    const r = await check(url);
    expect(r.code, r.text).toBe(0);
    expect(r.text).toContain(`certificate ${origin(url)} expires ${iso(current)} (in 29 days)`);
    expect(r.text).toContain(
      `certificate turns:127.0.0.1:${turns.port} expires ${iso(current)} (in 29 days)`,
    );
    expect(r.text).not.toMatch(/warning:/);
    expect(r.text).toMatch(/OK: every URI works \(1\)$/);

    const json = await check(url, '--json');
    const report = JSON.parse(json.text) as CheckReport;
    expect(json.code).toBe(0);
    expect(report.certificates).toEqual([
      expect.objectContaining({
        endpoint: origin(url),
        status: 'current',
        validTo: iso(current),
        fingerprint256: new X509Certificate(current.cert).fingerprint256,
      }),
      expect.objectContaining({
        endpoint: `turns:127.0.0.1:${turns.port}`,
        status: 'current',
        validTo: iso(current),
      }),
    ]);
    expect(report.certificates[0]?.expiresInS).toBeGreaterThan(29 * 86_400);
  });

  it('warns that renewal is overdue under 7 days left, and still exits 0', async () => {
    const soon = pki.leaf({ days: 3 });
    const turns = await relay(soon);
    const url = await api(soon, turns.port);
    const r = await check(url);
    expect(r.code, r.text).toBe(0);
    for (const endpoint of [origin(url), `turns:127.0.0.1:${turns.port}`]) {
      expect(r.text).toMatch(
        new RegExp(
          `^warning: certificate ${re(endpoint)} expires ${re(iso(soon))} \\(in 2 days\\): renewal is overdue .*service's log.*GET ${re(origin(url))}/readyz .*turnkey_certificate_expiry_timestamp_seconds`,
          'm',
        ),
      );
    }
    expect(r.text).toMatch(/OK: every URI works \(1\)$/);
  });

  it('warns when the API and the relay on one host serve different certificates', async () => {
    const renewed = pki.leaf({ days: 89 });
    const turns = await relay(current);
    const url = await api(renewed, turns.port);
    const r = await check(url);
    expect(r.code, r.text).toBe(0);
    expect(r.text).toContain(
      `warning: 127.0.0.1 serves different certificates: ${origin(url)} expires ${iso(renewed)}, turns:127.0.0.1:${turns.port} expires ${iso(current)}; one endpoint did not take the last renewal`,
    );
    expect(r.text).not.toMatch(/overdue/);
  });

  it('fails on an expired relay certificate, naming its notAfter', async () => {
    const turns = await relay(expired);
    const url = await api(current, turns.port);
    const r = await check(url);
    expect(r.code, r.text).toBe(1);
    const turnsEndpoint = `turns:127.0.0.1:${turns.port}`;
    // The at-a-glance line, then the failure's paragraph, which starts the same.
    const line = `certificate ${turnsEndpoint} expired ${iso(expired)} (2 days ago)`;
    expect(r.text.split('\n').filter((l) => l === line)).toHaveLength(2);
    expect(r.text).toMatch(
      new RegExp(
        `^certificate ${re(turnsEndpoint)} expired ${re(iso(expired))} \\(2 days ago\\)\\n  cause: nothing replaced it in time.*\\n  fix: {3}look at the service's log`,
        'm',
      ),
    );
    expect(r.text).toMatch(
      /FAILED: 1 of 1 URIs do not work; 1 of 2 certificates out of their validity period$/,
    );
    const report = JSON.parse((await check(url, '--json')).text) as CheckReport;
    expect(report.certificates[1]).toMatchObject({ status: 'expired', validTo: iso(expired) });
    expect(report.ok).toBe(false);
  });

  it('fails on an expired API certificate with its notAfter, not a bare TLS error', async () => {
    const url = await api(expired, 1);
    const r = await check(url);
    expect(r.code, r.text).toBe(1);
    // Its own line, as with a fetched list, besides the failure naming it.
    expect(r.text).toMatch(
      new RegExp(
        `^certificate ${re(origin(url))} expired ${re(iso(expired))} \\(2 days ago\\)$`,
        'm',
      ),
    );
    expect(r.text).toMatch(
      new RegExp(
        `^FAILED: could not fetch ICE servers: certificate ${re(origin(url))} expired ${re(iso(expired))} \\(2 days ago\\): nothing replaced it`,
        'm',
      ),
    );
    expect(r.text).not.toMatch(/not reachable/);
  });

  it('fails on a relay certificate not yet valid; an http API has no certificate line', async () => {
    const future = pki.leaf({ notBefore: daysFromNow(2), notAfter: daysFromNow(30) });
    const turns = await relay(future);
    const url = await api(undefined, turns.port);
    const r = await check(url);
    expect(r.code, r.text).toBe(1);
    expect(r.text).toContain(
      `certificate turns:127.0.0.1:${turns.port} is not valid before ${iso(future, 'validFrom')} (in 1 day), expires ${iso(future)}`,
    );
    expect(r.text).toMatch(/\n {2}cause: this machine's clock or the server host's is off/);
    expect(r.text).not.toMatch(/certificate https?:/);
    expect(r.text).toMatch(/1 of 1 certificates out of their validity period$/);
  });

  it('fails on a certificate judged out of date even when the handshake itself passed', async () => {
    // This machine's clock a month ahead: only the check's own judgment can see it.
    const turns = await relay(current);
    const url = await api(current, turns.port);
    const report = await runCheck({
      url,
      token: 't',
      user: 'turnkey-check',
      ca: pki.caPem,
      timeoutMs: 2000,
      now: () => daysFromNow(31).getTime(),
    });
    expect(report.results[0]?.outcome).toBe('relayed');
    expect(exitCode(report)).toBe(1);
    const text = formatReport(report);
    expect(text).toContain(`certificate ${origin(url)} expired ${iso(current)} (1 day ago)`);
    expect(text).toMatch(/FAILED: 2 of 2 certificates out of their validity period$/);
  });
});
