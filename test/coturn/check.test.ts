import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../service/check/cli';
import type { CheckReport } from '../../service/check/run';
import { LISTENING_EVERYWHERE, type RunningCoturn, startCoturn } from '../helpers/coturn';
import { unusedUdpPort } from '../helpers/fake-turn';
import { freePortBlock } from '../helpers/ports';
import { randomToken, startTestService } from '../helpers/service';
import { makeTestPki } from '../lab/pki';

/**
 * `turnkey check` against the real turnserver on loopback: the diagnoses that need no
 * relaying to succeed. (A relay reachable from outside, as these listen, refuses loopback
 * peers; the success path runs in the lab, test/lab/check.test.ts, and for a relay on
 * loopback alone in test/lab/dev-stack.test.ts.)
 */

const newSecret = () => randomBytes(32).toString('hex');

async function check(args: string[]) {
  const out: string[] = [];
  const code = await main(['check', ...args, '--timeout', '1500'], {
    out: (t) => out.push(t),
    err: (t) => out.push(t),
    env: {},
  });
  return { code, text: out.join('\n') };
}

async function service(secret: string, turnUrls: string) {
  const token = randomToken();
  const svc = await startTestService({
    TURN_PROVIDER: 'coturn',
    TURN_SECRET: secret,
    TURN_URLS: turnUrls,
    API_TOKENS: token,
  });
  return { ...svc, token, iceUrl: `${svc.url}/v1/ice-servers` };
}

describe('turnkey check on loopback', () => {
  const secret = newSecret();
  let coturn: RunningCoturn;
  beforeAll(async () => {
    // Reachable from outside as in production: its loopback relayed addresses are denied peers.
    coturn = await startCoturn({
      env: { TURN_SECRET: secret, ...LISTENING_EVERYWHERE },
      relayPortCount: 20,
    });
  });
  afterAll(async () => coturn?.stop());
  const urls = (port: number) =>
    `turn:127.0.0.1:${port}?transport=udp,turn:127.0.0.1:${port}?transport=tcp`;

  it('diagnoses a secret mismatch (401) on every TURN URI and exits 1', async () => {
    const svc = await service(newSecret(), urls(coturn.port));
    try {
      const r = await check(['--url', svc.iceUrl, '--token', svc.token]);
      expect(r.code).toBe(1);
      // STUN needs no credential: it still answers, with this machine's address.
      expect(r.text).toMatch(
        new RegExp(`stun:127\\.0\\.0\\.1:${coturn.port}\\s+answered .*127\\.0\\.0\\.1:\\d+`),
      );
      for (const t of ['udp', 'tcp']) {
        expect(r.text).toMatch(new RegExp(`transport=${t}\\s+failed`));
        expect(r.text).toMatch(
          new RegExp(
            `transport=${t}: allocate refused \\(401 Unauthorized\\)\\n  cause: .*another secret`,
          ),
        );
      }
      expect(r.text).toMatch(/FAILED: 2 of 3 URIs do not work/);
      expect(r.text).not.toContain(svc.token);
    } finally {
      await svc.service.close();
    }
  });

  it('diagnoses a relay whose relayed addresses are denied peers (403) after allocating', async () => {
    // Loopback relayed addresses are in the shipped deny list: like a relay behind NAT that
    // announces its private address because turnkey:externalIp is not set.
    const svc = await service(secret, urls(coturn.port));
    try {
      const r = await check(['--url', svc.iceUrl, '--token', svc.token, '--json']);
      expect(r.code).toBe(1);
      const report = JSON.parse(r.text);
      const turn = report.results.filter((x: { scheme: string }) => x.scheme === 'turn');
      expect(turn).toHaveLength(2);
      for (const t of turn) {
        expect(t).toMatchObject({ outcome: 'failed', relayed: { address: '127.0.0.1' } });
        expect(t.allocateMs).toBeGreaterThanOrEqual(0);
        expect(t.diagnosis.problem).toMatch(/permission refused \(403/);
        expect(t.diagnosis.cause).toMatch(/private or reserved relayed address 127\.0\.0\.1/);
        expect(t.diagnosis.fix).toMatch(/turnkey:externalIp/);
        expect(Math.abs(t.credentialExpiresInS - report.ttl)).toBeLessThanOrEqual(5);
      }
      expect(r.text).not.toContain(svc.token);
    } finally {
      await svc.service.close();
    }
  });

  it('diagnoses a port nothing answers on as firewall or port', async () => {
    const port = await unusedUdpPort();
    const svc = await service(secret, `turn:127.0.0.1:${port}?transport=udp`);
    try {
      const r = await check(['--url', svc.iceUrl, '--token', svc.token]);
      expect(r.code).toBe(1);
      expect(r.text).toMatch(
        new RegExp(
          `transport=udp: no answer from 127\\.0\\.0\\.1:${port}/udp within 1500 ms\\n  cause: a firewall .* drops UDP port ${port}`,
        ),
      );
    } finally {
      await svc.service.close();
    }
  });

  it('says when the service refuses the API token, and when the service is not there', async () => {
    const svc = await service(secret, urls(coturn.port));
    try {
      const wrong = await check(['--url', svc.iceUrl, '--token', randomToken()]);
      expect(wrong.code).toBe(1);
      expect(wrong.text).toMatch(/answered 401.*API token.*pulumi stack output apiToken/);
    } finally {
      await svc.service.close();
    }
    const gone = await check([
      '--url',
      `http://127.0.0.1:${await freePortBlock(1)}/v1/ice-servers`,
      '--token',
      randomToken(),
    ]);
    expect(gone.code).toBe(1);
    expect(gone.text).toMatch(/could not fetch ICE servers.*ECONNREFUSED.*iceServersUrl/);
  });
});

/** `turnkey check --json` against the relay's turn: URIs over UDP and TCP at `host`. */
async function checkTurn(secret: string, host: string, port: number) {
  const h = host.includes(':') ? `[${host}]` : host;
  const svc = await service(
    secret,
    `turn:${h}:${port}?transport=udp,turn:${h}:${port}?transport=tcp`,
  );
  try {
    const r = await check(['--url', svc.iceUrl, '--token', svc.token, '--json']);
    const report = JSON.parse(r.text) as CheckReport;
    const turn = report.results.filter((x) => x.scheme === 'turn');
    expect(turn.map((t) => t.transport)).toEqual(['udp', 'tcp']);
    return { code: r.code, report, turn };
  } finally {
    await svc.service.close();
  }
}

const FAMILY_PROBLEM =
  /^the relay handed the IPv6 relayed address ::1 to an Allocate that asked for no address family$/;

describe('IPv6: the relayed address a browser gets, reached over ::1', () => {
  // Both reachable from outside as in production, relaying from 127.0.0.1 and ::1: loopback
  // peers are denied, so relaying ends in 403 whatever the family; the family is found first.
  const secret = newSecret();
  let keep: RunningCoturn;
  let plain: RunningCoturn;
  beforeAll(async () => {
    [keep, plain] = await Promise.all([
      startCoturn({
        env: { TURN_SECRET: secret, ...LISTENING_EVERYWHERE },
        overlay: 'allocation-default-address-family=keep\n',
        relayPortCount: 10,
      }),
      startCoturn({ env: { TURN_SECRET: secret, ...LISTENING_EVERYWHERE }, relayPortCount: 10 }),
    ]);
  });
  afterAll(async () => {
    await keep?.stop();
    await plain?.stop();
  });

  it('allocation-default-address-family=keep hands IPv6 clients an IPv6 relayed address: flagged on every TURN URI', async () => {
    const { code, report, turn } = await checkTurn(secret, '::1', keep.port);
    expect(code).toBe(1);
    expect(report.ok).toBe(false);
    for (const t of turn) {
      expect(t).toMatchObject({
        outcome: 'failed',
        relayed: { address: '::1' },
        relayedFamily: 'ipv6',
        mapped: { address: '::1' },
        outsideFamily: 'ipv6',
      });
      expect(t.diagnosis?.problem).toMatch(FAMILY_PROBLEM);
      expect(t.diagnosis?.fix).toMatch(/allocation-default-address-family must be ipv4/);
      // Found before relaying: nothing else was tried.
      expect(t.relayRttMs).toBeUndefined();
    }
    // Its IPv4 clients still get IPv4: only a client coming in over IPv6 shows the fault.
    const v4 = await checkTurn(secret, '127.0.0.1', keep.port);
    for (const t of v4.turn) {
      expect(t.relayedFamily).toBe('ipv4');
      expect(t.diagnosis?.problem).not.toMatch(FAMILY_PROBLEM);
    }
  });

  it('the same relay with the default (the shipped config) hands IPv6 clients IPv4: not flagged', async () => {
    const { turn } = await checkTurn(secret, '::1', plain.port);
    for (const t of turn) {
      expect(t).toMatchObject({
        relayed: { address: '127.0.0.1' },
        relayedFamily: 'ipv4',
        mapped: { address: '::1' },
        outsideFamily: 'ipv6',
      });
      // What stops it is the deny list, loopback peers refused, as in the tests above.
      expect(t.diagnosis?.problem).not.toMatch(FAMILY_PROBLEM);
      expect(t.diagnosis?.problem).toMatch(/permission refused \(403/);
    }
  });
});

describe('IPv6: from outside over ::1, on a relay for this machine alone', () => {
  // Listening and relaying on loopback alone (the dev stack's shape): the entrypoint allows its
  // own loopback addresses as peers, so data really crosses it and the outside step runs.
  const secret = newSecret();
  let dual: RunningCoturn;
  let v4only: RunningCoturn;
  beforeAll(async () => {
    [dual, v4only] = await Promise.all([
      startCoturn({ env: { TURN_SECRET: secret }, relayPortCount: 20 }),
      startCoturn({
        env: { TURN_SECRET: secret, TURN_RELAY_IPS: '127.0.0.1' },
        relayPortCount: 20,
      }),
    ]);
  });
  afterAll(async () => {
    await dual?.stop();
    await v4only?.stop();
  });

  it('relaying from 127.0.0.1 and ::1: browsers get IPv4, the outside step goes over IPv6 through an allocation asking for it', async () => {
    const { code, turn } = await checkTurn(secret, '::1', dual.port);
    for (const t of turn) {
      expect(t, JSON.stringify(t)).toMatchObject({
        outcome: 'relayed',
        relayed: { address: '127.0.0.1' },
        relayedFamily: 'ipv4',
        outsideFamily: 'ipv6',
        outsideRelayed: { address: '::1' },
      });
      expect(t.relayRttMs).toBeGreaterThanOrEqual(0);
      expect(t.outsideRttMs).toBeGreaterThanOrEqual(0);
    }
    expect(code).toBe(0);
  });

  it('relaying from 127.0.0.1 alone: the IPv6 allocation refused (440) is a note, not a failure', async () => {
    const { code, turn } = await checkTurn(secret, '::1', v4only.port);
    for (const t of turn) {
      expect(t, JSON.stringify(t)).toMatchObject({
        outcome: 'relayed',
        relayedFamily: 'ipv4',
        outsideFamily: 'ipv6',
      });
      expect(t.outsideRttMs).toBeUndefined();
      expect(t.outsideNotChecked).toMatch(
        /relay has no IPv6 relayed addresses \(440 Address Family not Supported\)/,
      );
    }
    expect(code).toBe(0);
  });
});

describe('TURN over TLS on loopback: certificate checks', () => {
  const secret = newSecret();
  let coturn: RunningCoturn;
  let pki: ReturnType<typeof makeTestPki>;
  let tlsPort: number;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'turnkey-pki-'));
    pki = makeTestPki(dir, { ips: ['127.0.0.1'], names: ['relay.test'] });
    tlsPort = await freePortBlock(1);
    coturn = await startCoturn({
      env: { TURN_SECRET: secret, TURN_TLS_PORT: String(tlsPort), ...LISTENING_EVERYWHERE },
      files: { TURN_TLS_CERT_FILE: pki.certPem, TURN_TLS_KEY_FILE: pki.keyPem },
      relayPortCount: 10,
    });
  });
  afterAll(async () => {
    await coturn?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('allocates over TLS with the CA given, and names the chain or the name when it fails', async () => {
    const svc = await service(
      secret,
      `turn:127.0.0.1:${coturn.port},turns:127.0.0.1:${tlsPort}?transport=tcp,turns:localhost:${tlsPort}?transport=tcp`,
    );
    try {
      const trusted = JSON.parse(
        (await check(['--url', svc.iceUrl, '--token', svc.token, '--ca', pki.caFile, '--json']))
          .text,
      );
      const [byIp, byName] = trusted.results.filter(
        (r: { scheme: string }) => r.scheme === 'turns',
      );
      // The TLS handshake and Allocate succeeded; loopback peers are then denied (403).
      expect(byIp).toMatchObject({ transport: 'tls', relayed: { address: '127.0.0.1' } });
      expect(byIp.diagnosis.problem).toMatch(/permission refused \(403/);
      // The certificate names 127.0.0.1 and relay.test, not localhost.
      expect(byName.diagnosis.problem).toBe('TLS certificate does not name localhost');
      expect(byName.diagnosis.fix).toMatch(/turnkey:tlsCert/);

      const untrusted = await check(['--url', svc.iceUrl, '--token', svc.token]);
      expect(untrusted.code).toBe(1);
      expect(untrusted.text).toMatch(
        new RegExp(
          `turns:127\\.0\\.0\\.1:${tlsPort}\\?transport=tcp: TLS certificate chain .* is not trusted`,
        ),
      );
      expect(untrusted.text).toMatch(/fullchain\.pem.*--ca <file>/);
    } finally {
      await svc.service.close();
    }
  });
});
