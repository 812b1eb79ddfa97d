import { afterEach, describe, expect, it } from 'vitest';
import { iceUri } from '../../contract';
import { main } from '../../service/check/cli';
import type { CheckReport, UriResult } from '../../service/check/run';
import { type FakeTurns, type FakeTurnsOptions, startFakeTurns } from '../helpers/fake-turns';
import { serveIceServers } from '../helpers/ice-servers-endpoint';
import { escapeRegExp } from '../helpers/regexp';

/**
 * `turnkey check` and address families (issue #28): the browser-like Allocate (no
 * REQUESTED-ADDRESS-FAMILY) must get an IPv4 relayed address whatever family the relay is
 * reached over, and the from-outside step goes over the family this machine reached the relay
 * over, through an extra allocation asking for it when needed. A relaying turn: stand-in over
 * TCP, listening on ::1 (reached over IPv6) or 127.0.0.1, shaped as a dual-stack, IPv4-only or
 * allocation-default-address-family=keep relay.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function relay(opts: FakeTurnsOptions): Promise<FakeTurns> {
  const turns = await startFakeTurns(undefined, opts);
  cleanups.push(() => turns.close());
  return turns;
}

/** An ice-servers endpoint (http on 127.0.0.1) handing out one turn: URI over TCP. */
async function api(host: string, port: number): Promise<{ url: string; uri: string }> {
  const uri = iceUri('turn', host, port, 'tcp');
  const endpoint = await serveIceServers([uri]);
  cleanups.push(endpoint.close);
  return { url: endpoint.url, uri };
}

async function check(url: string, ...extra: string[]) {
  const out: string[] = [];
  const code = await main(['check', '--url', url, '--token', 't', '--timeout', '5000', ...extra], {
    out: (t) => out.push(t),
    err: (t) => out.push(t),
    env: {},
  });
  return { code, text: out.join('\n') };
}

/** The one URI's result, from --json, and the human report. */
async function checkBoth(host: string, turns: FakeTurns) {
  const { url, uri } = await api(host, turns.port);
  const json = await check(url, '--json');
  const report = JSON.parse(json.text) as CheckReport;
  const human = await check(url);
  expect(human.code).toBe(json.code);
  return {
    code: json.code,
    report,
    result: report.results[0] as UriResult,
    text: human.text,
    uri,
  };
}

describe('turnkey check over IPv6 and dual stack', () => {
  it('a dual-stack relay reached over IPv6: IPv4 for browsers, and the outside step over IPv6 through an extra allocation asking for it', async () => {
    const turns = await relay({ host: '::1' });
    const { code, report, result, text, uri } = await checkBoth('::1', turns);
    expect(code, text).toBe(0);
    expect(report.ok).toBe(true);
    expect(result).toMatchObject({
      outcome: 'relayed',
      relayed: { address: '127.0.0.1' },
      relayedFamily: 'ipv4',
      mapped: { address: '::1' },
      outsideFamily: 'ipv6',
      outsideRelayed: { address: '::1' },
      // An IPv4 relayed address is not compared with an IPv6 host address.
      relayedElsewhere: false,
    });
    expect(result.relayRttMs).toBeGreaterThanOrEqual(0);
    expect(result.outsideRttMs).toBeGreaterThanOrEqual(0);
    expect(result.outsideNotChecked).toBeUndefined();
    expect(result.diagnosis).toBeUndefined();
    // Per run: two browser-like allocations, then one asking for IPv6; every one released.
    const once = [
      { relayed: '127.0.0.1' },
      { relayed: '127.0.0.1' },
      { requested: 'ipv6', relayed: '::1' },
    ];
    expect(turns.allocateRequests()).toEqual([...once, ...once]);
    expect(turns.live()).toBe(0);
    expect(text).toMatch(
      new RegExp(
        `${escapeRegExp(uri)}\\s+relayed\\s+\\d+\\s+\\d+\\s+\\d+\\s+127\\.0\\.0\\.1:\\d+\\s+\\[::1\\]:\\d+\\s+ipv4 / ipv6 via \\[::1\\]:\\d+\\s`,
      ),
    );
    expect(text).not.toMatch(/note:|warning:/);
    expect(text).toMatch(/OK: every URI works \(1\)$/);
  });

  it('the same relay reached over IPv4: no extra allocation, the outside step goes to the browser-like one', async () => {
    const turns = await relay({ host: '127.0.0.1' });
    const { code, result, text } = await checkBoth('127.0.0.1', turns);
    expect(code, text).toBe(0);
    expect(result).toMatchObject({
      outcome: 'relayed',
      relayedFamily: 'ipv4',
      outsideFamily: 'ipv4',
    });
    expect(result.outsideRelayed).toBeUndefined();
    expect(result.outsideRttMs).toBeGreaterThanOrEqual(0);
    expect(turns.allocateRequests().every((r) => r.requested === undefined)).toBe(true);
    expect(text).toMatch(/\sipv4 \/ ipv4\s/);
  });

  it('a relay handing an IPv6 relayed address to an Allocate that asked for none (allocation-default-address-family=keep) fails the URI', async () => {
    const turns = await relay({ host: '::1', defaultFamily: 'keep' });
    const { code, report, result, text, uri } = await checkBoth('::1', turns);
    expect(code, text).toBe(1);
    expect(report.ok).toBe(false);
    expect(result).toMatchObject({
      outcome: 'failed',
      relayed: { address: '::1' },
      relayedFamily: 'ipv6',
      outsideFamily: 'ipv6',
    });
    const d = result.diagnosis;
    expect(d?.problem).toBe(
      'the relay handed the IPv6 relayed address ::1 to an Allocate that asked for no address family',
    );
    expect(d?.cause).toMatch(
      /browsers never ask for one .*reaching this relay over IPv6 gets an IPv6 relayed address and cannot reach IPv4-only peers/,
    );
    expect(d?.fix).toMatch(
      /^Coturn's allocation-default-address-family must be ipv4, its default and what the shipped turnserver\.conf leaves it at/,
    );
    // Found at the first allocation: nothing more allocated, and that one released.
    expect(turns.allocateRequests()).toEqual([{ relayed: '::1' }, { relayed: '::1' }]);
    expect(turns.live()).toBe(0);
    expect(text).toMatch(/\[::1\]:\d+\s+\[::1\]:\d+\s+ipv6 \(!\) \/ ipv6\s/);
    expect(text).toContain(
      `${uri}: the relay handed the IPv6 relayed address ::1 to an Allocate that asked for no address family\n  cause: browsers never ask`,
    );
    expect(text).toMatch(/\n {2}fix: {3}Coturn's allocation-default-address-family must be ipv4/);
    expect(text).toMatch(/FAILED: 1 of 1 URIs do not work$/);
  });

  it('the keep relay reached over IPv4 hands out IPv4, as it should for that client', async () => {
    const turns = await relay({ host: '127.0.0.1', defaultFamily: 'keep' });
    const { code, result, text } = await checkBoth('127.0.0.1', turns);
    expect(code, text).toBe(0);
    expect(result).toMatchObject({ outcome: 'relayed', relayedFamily: 'ipv4' });
  });

  it('an IPv4-only relay reached over IPv6: 440 to the extra allocation is a note, the outside step not run, the URI not failed', async () => {
    const turns = await relay({ host: '::1', families: ['ipv4'] });
    const { code, report, result, text, uri } = await checkBoth('::1', turns);
    expect(code, text).toBe(0);
    expect(report.ok).toBe(true);
    expect(result).toMatchObject({
      outcome: 'relayed',
      relayedFamily: 'ipv4',
      outsideFamily: 'ipv6',
    });
    expect(result.relayRttMs).toBeGreaterThanOrEqual(0);
    expect(result.outsideRttMs).toBeUndefined();
    expect(result.outsideRelayed).toBeUndefined();
    expect(result.diagnosis).toBeUndefined();
    expect(result.outsideNotChecked).toMatch(
      /^this machine reached the relay over IPv6, and the relay has no IPv6 relayed addresses \(440 Address Family not Supported\), so no data was sent to a relayed address from outside; not a fault: browsers get IPv4 relayed addresses/,
    );
    expect(turns.allocateRequests().slice(0, 3)).toEqual([
      { relayed: '127.0.0.1' },
      { relayed: '127.0.0.1' },
      { requested: 'ipv6', error: 440 },
    ]);
    expect(turns.live()).toBe(0);
    expect(text).toMatch(/\sipv4 \/ ipv6 not checked\s/);
    expect(text).toMatch(/\s-\s+127\.0\.0\.1:\d+/); // no outside RTT
    expect(text).toContain(
      `note: ${uri}: reachability from outside not checked: this machine reached the relay over IPv6, and the relay has no IPv6 relayed addresses (440 Address Family not Supported)`,
    );
    expect(text).toMatch(/OK: every URI works \(1\)$/);
  });

  it('a relay without IPv4 relayed addresses: the browser-like Allocate refused with 440 fails the URI', async () => {
    const turns = await relay({ host: '::1', families: ['ipv6'] });
    const { code, result, text } = await checkBoth('::1', turns);
    expect(code, text).toBe(1);
    expect(result.outcome).toBe('failed');
    expect(result.diagnosis?.problem).toBe('allocate refused (440 Address Family not Supported)');
    expect(result.diagnosis?.cause).toMatch(/no IPv4 address to relay from/);
    expect(result.diagnosis?.fix).toMatch(/turnkey:listeningIps/);
  });
});
