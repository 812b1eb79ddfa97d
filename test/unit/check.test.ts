import { describe, expect, it } from 'vitest';
import { main } from '../../service/check/cli';
import { exitCode, formatReport } from '../../service/check/report';
import { type CheckReport, credentialWarning, usernameExpiry } from '../../service/check/run';
import {
  diagnose,
  type FailureContext,
  relayedAddressMismatch,
} from '../../service/turn/diagnosis';
import { TurnError } from '../../service/turn/error';

const ctx = (over: Partial<FailureContext> = {}): FailureContext => ({
  target: 'turn.example.com:3478/udp',
  host: 'turn.example.com',
  port: 3478,
  transport: 'udp',
  ...over,
});
const failed = (code: number, operation: string, kind?: TurnError['kind'], systemCode?: string) => {
  const err = new TurnError(code, code ? '' : 'something failed', kind, systemCode);
  err.operation = operation;
  return err;
};

describe('diagnoses', () => {
  it('401 on Allocate: a secret mismatch between service and relay', () => {
    const d = diagnose(failed(401, 'allocate'), ctx());
    expect(d.problem).toBe('allocate refused (401 Unauthorized)');
    expect(d.cause).toMatch(/another secret than the relay's static-auth-secret/);
    expect(d.fix).toMatch(/TURN_SECRET/);
  });

  it('403 on CreatePermission with a private relayed address: the missing external IP mapping', () => {
    const d = diagnose(failed(403, 'permission'), ctx({ relayed: '10.0.1.10' }));
    expect(d.cause).toMatch(/private or reserved relayed address 10\.0\.1\.10/);
    expect(d.fix).toMatch(/turnkey:externalIp \(EXTERNAL_IP\) to PUBLIC\/PRIVATE/);
    // A 403 on Allocate is a refused client, not a denied peer.
    expect(diagnose(failed(403, 'allocate'), ctx()).cause).toMatch(/refuses this client/);
  });

  it('403 on Allocate saying the relay is draining: its own outcome, the raw reason kept', () => {
    const reason = 'Server is draining, then will shutdown, please try another server';
    const err = new TurnError(403, reason);
    err.operation = 'allocate';
    expect(err).toMatchObject({ kind: 'draining', code: 403, reason });
    const d = diagnose(err, ctx());
    expect(d.problem).toBe(`allocate refused: the relay is draining (403 ${reason})`);
    expect(d.cause).toMatch(/being replaced/);
    expect(d.fix).toMatch(/use another relay/);
    // Coturn's words, matched on the one word whatever its case; only with a 403.
    expect(new TurnError(403, 'DRAINING').kind).toBe('draining');
    expect(new TurnError(486, 'draining').kind).toBe('refused');
  });

  it('a plain 403 on Allocate stays a refusal of this client', () => {
    for (const reason of ['Forbidden', '']) {
      const err = new TurnError(403, reason);
      err.operation = 'allocate';
      expect(err.kind).toBe('refused');
      expect(diagnose(err, ctx()).cause).toMatch(/refuses this client/);
    }
  });

  it('403 on CreatePermission with a public relayed address: a deny list wider than meant', () => {
    const d = diagnose(failed(403, 'permission'), ctx({ relayed: '11.0.0.10' }));
    expect(d.cause).toMatch(/denied-peer-ip list covers a public peer address/);
    expect(d.fix).toMatch(/narrow it in turnserver\.conf/);
  });

  it('486 and 508 name the quota and the relay port range', () => {
    expect(diagnose(failed(486, 'allocate'), ctx()).fix).toMatch(
      /turnkey:userQuota \/ turnkey:totalQuota \(TURN_USER_QUOTA/,
    );
    expect(diagnose(failed(508, 'allocate'), ctx()).fix).toMatch(/turnkey:relayPorts/);
  });

  it('a timeout names the firewall and the port with its protocol', () => {
    const udp = diagnose(failed(0, 'allocate', 'timeout'), ctx());
    expect(udp.cause).toMatch(/drops UDP port 3478/);
    expect(udp.fix).toMatch(/turnkey:turnPort/);
    const tls = diagnose(failed(0, 'connect', 'timeout'), ctx({ transport: 'tls', port: 443 }));
    expect(tls.cause).toMatch(/drops TCP port 443/);
  });

  it('a refused connection: nothing listens there', () => {
    const d = diagnose(
      failed(0, 'connect', 'unreachable', 'ECONNREFUSED'),
      ctx({ transport: 'tcp' }),
    );
    expect(d.cause).toMatch(/nothing listens on TCP 3478/);
  });

  it('TLS: the certificate name, the chain, the validity period', () => {
    const tls = ctx({ transport: 'tls', port: 5349 });
    const name = diagnose(failed(0, 'connect', 'tls', 'ERR_TLS_CERT_ALTNAME_INVALID'), tls);
    expect(name.problem).toBe('TLS certificate does not name turn.example.com');
    expect(name.fix).toMatch(/turnkey:tlsCert .*turnkey:publicHost/);
    for (const code of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN']) {
      const chain = diagnose(failed(0, 'connect', 'tls', code), tls);
      expect(chain.problem).toMatch(/chain .* not trusted/);
      expect(chain.fix).toMatch(/fullchain\.pem.*--ca/);
    }
    expect(diagnose(failed(0, 'connect', 'tls', 'CERT_HAS_EXPIRED'), tls).problem).toMatch(
      /expired/,
    );
  });

  it('lost relayed data: the wrong external IP when the relayed address is not the host', () => {
    const wrong = diagnose(
      failed(0, 'relay', 'timeout'),
      ctx({ hostAddress: '11.0.0.10', relayed: '11.0.0.99' }),
    );
    expect(wrong.problem).toMatch(/announces 11\.0\.0\.99 but is reached at 11\.0\.0\.10/);
    expect(wrong.cause).toMatch(/wrong external IP/);
    expect(wrong.fix).toMatch(/turnkey:externalIp \(EXTERNAL_IP\) to 11\.0\.0\.10\/<private IP>/);
    const blocked = diagnose(
      failed(0, 'relay', 'timeout'),
      ctx({ hostAddress: '11.0.0.10', relayed: '11.0.0.10' }),
    );
    expect(blocked.fix).toMatch(/turnkey:relayPorts \(UDP\)/);
  });

  it('a dual-stack relay reached over IPv6 relaying from IPv4 is no wrong external IP: only one family compares', () => {
    const dual = ctx({ hostAddress: '2001:db8::10', relayed: '11.0.0.10' });
    expect(relayedAddressMismatch(dual)).toBe(false);
    expect(diagnose(failed(0, 'relay', 'timeout'), dual).cause).not.toMatch(/wrong external IP/);
    expect(
      relayedAddressMismatch(ctx({ hostAddress: '2001:db8::10', relayed: '2001:db8::99' })),
    ).toBe(true);
  });
});

describe('credential expiry versus the announced ttl', () => {
  it('reads the expiry from a TURN REST username only', () => {
    expect(usernameExpiry('1766419200:alice')).toBe(1766419200);
    expect(usernameExpiry('a1b2c3d4e5')).toBeUndefined();
    expect(usernameExpiry(undefined)).toBeUndefined();
  });

  it('warns about a dead credential and about clocks apart, not about a second of latency', () => {
    expect(credentialWarning(3599, 3600)).toBeUndefined();
    expect(credentialWarning(-30, 3600)).toMatch(/expired 30 s ago/);
    expect(credentialWarning(7200, 3600)).toMatch(/differs by 3600 s/);
  });
});

describe('the report', () => {
  const base: CheckReport = {
    url: 'http://turn.example.com:8080/v1/ice-servers',
    user: 'turnkey-check',
    ttl: 600,
    expiresAt: '2026-01-01T00:00:00.000Z',
    results: [
      {
        uri: 'stun:turn.example.com:3478',
        scheme: 'stun',
        transport: 'udp',
        outcome: 'answered',
        allocateMs: 3,
        mapped: { address: '11.0.0.31', port: 40000 },
      },
      {
        uri: 'turn:turn.example.com:3478?transport=udp',
        scheme: 'turn',
        transport: 'udp',
        outcome: 'relayed',
        allocateMs: 12,
        relayRttMs: 4,
        outsideRttMs: 6,
        relayed: { address: '11.0.0.10', port: 50000 },
        relayedFamily: 'ipv4',
        outsideFamily: 'ipv4',
        mapped: { address: '11.0.0.31', port: 40001 },
        hostAddress: '11.0.0.10',
        relayedElsewhere: false,
        credentialExpiresInS: 600,
      },
    ],
    certificates: [],
    ok: true,
  };

  it('prints one row per URI with times and addresses, and exits 0 when all work', () => {
    const text = formatReport(base);
    expect(text).toMatch(
      /turn:turn\.example\.com:3478\?transport=udp\s+relayed\s+12\s+4\s+6\s+11\.0\.0\.10:50000\s+11\.0\.0\.31:40001\s+ipv4 \/ ipv4\s+in 600 s \/ ttl 600 s/,
    );
    expect(text).toMatch(
      /stun:turn\.example\.com:3478\s+answered\s+3\s+-\s+-\s+-\s+11\.0\.0\.31:40000/,
    );
    expect(text).toMatch(/OK: every URI works \(2\)/);
    expect(exitCode(base)).toBe(0);
  });

  it('flags a relayed address that is not the host, and exits 1 on any failure', () => {
    const results = [...base.results];
    results[1] = {
      ...(results[1] as CheckReport['results'][number]),
      outcome: 'failed',
      relayRttMs: undefined,
      relayed: { address: '11.0.0.99', port: 50000 },
      relayedElsewhere: true,
      diagnosis: {
        problem: 'relayed data never arrived',
        cause: 'wrong external IP',
        fix: 'set it',
      },
    };
    const report = { ...base, results, ok: false };
    const text = formatReport(report);
    expect(text).toMatch(/11\.0\.0\.99:50000 \(!\)/);
    expect(text).toMatch(/relayed address 11\.0\.0\.99 is not the URI's host 11\.0\.0\.10/);
    expect(text).toMatch(
      /transport=udp: relayed data never arrived\n {2}cause: wrong external IP\n {2}fix: {3}set it/,
    );
    expect(text).toMatch(/FAILED: 1 of 2 URIs do not work/);
    expect(exitCode(report)).toBe(1);
    expect(exitCode({ ...base, results: [], ok: false })).toBe(1);
  });
});

describe('turnkey command line', () => {
  const run = async (argv: string[], env: Record<string, string> = {}) => {
    const lines: string[] = [];
    const code = await main(argv, { out: (t) => lines.push(t), err: (t) => lines.push(t), env });
    return { code, text: lines.join('\n') };
  };

  it('exits 2 naming what is missing or wrong', async () => {
    expect(await run(['check', '--token', 'x'])).toMatchObject({
      code: 2,
      text: expect.stringMatching(/--url is required/),
    });
    expect(await run(['check', '--url', 'http://h/v1/ice-servers'])).toMatchObject({
      code: 2,
      text: expect.stringMatching(/--token, --token-file or TURNKEY_API_TOKEN/),
    });
    expect((await run(['check', '--url', 'u', '--token', 't', '--bogus'])).text).toMatch(/--bogus/);
    expect((await run(['chek'])).text).toMatch(/unknown command "chek"/);
    expect((await run(['check', '--url', 'not a url'], { TURNKEY_API_TOKEN: 't' })).text).toMatch(
      /--url is not a URL/,
    );
    expect(
      (await run(['check', '--url', 'http://h', '--token', 't', '--ca', '/nonexistent'])).text,
    ).toMatch(/--ca names a file that cannot be read \(ENOENT\)/);
    expect((await run(['check', '--url', 'http://h', '--token', 't', '--user', 'a:b'])).code).toBe(
      2,
    );
  });
});
