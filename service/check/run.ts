import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { Agent, request } from 'undici';
import { hostPort, type IceUri, parseIceUri } from '../../contract';
import { redactUrl } from '../providers/redact';
import type { IceServers } from '../providers/types';
import { type AllocateOptions, type Allocation, allocate, TurnError } from '../turn/client';
import {
  type Diagnosis,
  diagnose,
  ipv6RelayedByDefault,
  relayedAddressMismatch,
} from '../turn/diagnosis';
import { type AddressFamily, familyOf, type TransportAddress } from '../turn/message';
import { bindStun } from '../turn/probe';
import { describeTarget, type StunTransport } from '../turn/transport';
import {
  type CertificateResult,
  certificateWarnings,
  lookAtCertificates,
  tlsEndpoints,
} from './certificates';

/**
 * `turnkey check`: fetches ICE servers from a live deployment and, for every URI, proves
 * what a browser needs: STUN answers with a server-reflexive address; TURN allocates with
 * the handed-out credential, as a browser does (no address family asked for, so an IPv4
 * relayed address is due), relays data between two allocations, both ways, and from this
 * machine to a relayed address, as a peer would (over the family this machine reached the
 * relay over). Every TLS endpoint (an https --url, turns:) has its certificate's expiry
 * looked at.
 */

export interface CheckOptions {
  /** The deployment's iceServersUrl (`pulumi stack output iceServersUrl`). */
  url: string;
  token: string;
  /** The user id credentials are minted for. */
  user: string;
  /** PEM CA certificates to trust for turns: (and an https service) instead of Node's roots. */
  ca?: string;
  /** Bound on each network step. */
  timeoutMs: number;
  /** Clock in milliseconds since the epoch; replaceable for tests. */
  now?: () => number;
}

export type Outcome = 'relayed' | 'answered' | 'failed';

export interface UriResult {
  uri: string;
  scheme: IceUri['scheme'];
  transport: StunTransport;
  outcome: Outcome;
  /** TURN: connect + authenticate + allocate; STUN: the binding's round trip. */
  allocateMs?: number;
  /** Round trip of data relayed from one allocation to the other and back. */
  relayRttMs?: number;
  /** Round trip of data this machine sent straight to a relayed address, echoed back through the relay. */
  outsideRttMs?: number;
  /** The relayed address of an Allocate that asked for no address family, as browsers send it. */
  relayed?: TransportAddress;
  /** `relayed`'s family: ipv4, or the relay hands browsers on IPv6 networks IPv6 relayed addresses (a failure). */
  relayedFamily?: AddressFamily;
  /**
   * The family this machine reached the relay over (its server-reflexive address's), which the
   * from-outside step sends over: to `relayed` when of the same family, else to `outsideRelayed`.
   */
  outsideFamily?: AddressFamily;
  /** The relayed address of an extra allocation asking for `outsideFamily`, when `relayedFamily` is the other one. */
  outsideRelayed?: TransportAddress;
  /**
   * Why the from-outside step did not run although the relay allocated and relayed: it has no
   * relayed addresses of `outsideFamily` (440). Not a failure: browsers get IPv4 ones.
   */
  outsideNotChecked?: string;
  /** This machine's address as the server saw it. */
  mapped?: TransportAddress;
  /**
   * The URI's host resolved, which relayed addresses should equal: its address of the relayed
   * address's family, when it has one, else the one connected to.
   */
  hostAddress?: string;
  /** The relay announced a relayed address other than its host: the wrong-external-IP fault. */
  relayedElsewhere?: boolean;
  /** Credential lifetime left when fetched, from the expiry in the username (TURN REST). */
  credentialExpiresInS?: number;
  diagnosis?: Diagnosis;
}

export interface CheckReport {
  url: string;
  user: string;
  /** The ttl the service announced. */
  ttl?: number;
  expiresAt?: string;
  /** Set when the ICE servers could not be fetched at all. */
  fetchError?: Diagnosis;
  /** Credential expiry versus the announced ttl, when they disagree or the credential is dead. */
  credentialWarning?: string;
  results: UriResult[];
  /** The API's certificate (https) and each turns:/stuns: listener's. */
  certificates: CertificateResult[];
  /** A renewal overdue, or one host serving different certificates. */
  certificateWarnings?: string[];
  /** Every URI answered (STUN) or relayed (TURN), and no certificate is out of its validity. */
  ok: boolean;
}

export class CheckUsageError extends Error {
  override readonly name = 'CheckUsageError';
}

export async function runCheck(opts: CheckOptions): Promise<CheckReport> {
  const now = opts.now ?? Date.now;
  const report: CheckReport = {
    url: redactUrl(opts.url),
    user: opts.user,
    results: [],
    certificates: [],
    ok: false,
  };
  let servers: IceServers;
  try {
    servers = await fetchIceServers(opts);
  } catch (err) {
    if (err instanceof CheckUsageError) throw err;
    await addCertificates(report, opts, []);
    // An expired certificate fails the fetch with a bare TLS error: its date is the news.
    const expired = report.certificates.find((c) => c.diagnosis)?.diagnosis;
    report.fetchError = expired
      ? { ...expired, problem: `could not fetch ICE servers: ${expired.problem}` }
      : fetchDiagnosis(err, opts.url);
    return report;
  }
  report.ttl = servers.ttl;
  report.expiresAt = servers.expiresAt;
  const fetchedAt = now();
  for (const server of servers.iceServers) {
    const expiry = usernameExpiry(server.username);
    const expiresInS = expiry === undefined ? undefined : expiry - Math.floor(fetchedAt / 1000);
    if (expiresInS !== undefined)
      report.credentialWarning ??= credentialWarning(expiresInS, servers.ttl);
    for (const uri of server.urls) {
      const result = await checkUri(uri, server.username, server.credential, opts);
      if (expiresInS !== undefined) result.credentialExpiresInS = expiresInS;
      report.results.push(result);
    }
  }
  await addCertificates(
    report,
    opts,
    servers.iceServers.flatMap((s) => s.urls),
  );
  report.ok =
    report.results.length > 0 &&
    report.results.every((r) => r.outcome !== 'failed') &&
    report.certificates.every((c) => !c.diagnosis);
  return report;
}

/** One more handshake per TLS endpoint, apart from the check's own, to read what it serves. */
async function addCertificates(report: CheckReport, opts: CheckOptions, uris: string[]) {
  const readyzUrl = `${new URL(opts.url).origin}/readyz`;
  report.certificates = await lookAtCertificates(tlsEndpoints(opts.url, uris), {
    timeoutMs: opts.timeoutMs,
    now: opts.now ?? Date.now,
    readyzUrl,
  });
  const warnings = certificateWarnings(report.certificates, readyzUrl);
  if (warnings.length > 0) report.certificateWarnings = warnings;
}

/** The URL without its query string (which should not carry secrets, but might). */

async function fetchIceServers(opts: CheckOptions): Promise<IceServers> {
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw new CheckUsageError(
      `--url is not a URL: expected the deployment's iceServersUrl, e.g. http://turn.example.com:8080/v1/ice-servers`,
    );
  }
  url.searchParams.set('user', opts.user);
  const dispatcher = new Agent({
    connect: { timeout: opts.timeoutMs, ...(opts.ca ? { ca: opts.ca } : {}) },
  });
  try {
    const res = await request(url, {
      headers: { authorization: `Bearer ${opts.token}` },
      dispatcher,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new HttpStatusError(res.statusCode, text);
    const body = JSON.parse(text) as IceServers;
    if (!Array.isArray(body.iceServers)) throw new Error('the answer has no iceServers list');
    return body;
  } finally {
    await dispatcher.close();
  }
}

class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    body: string,
  ) {
    let message = body.slice(0, 200);
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? message;
    } catch {
      // not JSON: show the start of the body
    }
    super(`the service answered ${status}: ${message}`);
  }
}

function fetchDiagnosis(err: unknown, url: string): Diagnosis {
  if (err instanceof CheckUsageError) throw err;
  if (err instanceof HttpStatusError && err.status === 401) {
    return {
      problem: err.message,
      cause: 'the API token is not one the credential service accepts',
      fix: "use the stack's token: pulumi stack output apiToken --show-secrets (or one of the service's API_TOKENS)",
    };
  }
  if (err instanceof HttpStatusError) {
    return {
      problem: err.message,
      cause: 'the credential service could not hand out ICE servers',
      fix: `check the service's log and GET ${new URL(url).origin}/readyz`,
    };
  }
  const code = (err as { code?: string }).code;
  return {
    problem: `could not fetch ICE servers: ${(err as Error).message}${code ? ` (${code})` : ''}`,
    cause: 'the credential service is not reachable at --url from here',
    fix: "pass the stack's iceServersUrl (pulumi stack output iceServersUrl) and open turnkey:servicePort to this machine",
  };
}

/** The unix expiry TURN REST usernames start with (`<expiry>:<user>`); undefined for others. */
export function usernameExpiry(username: string | undefined): number | undefined {
  const m = /^(\d{9,11}):/.exec(username ?? '');
  return m ? Number(m[1]) : undefined;
}

/** A warning when the credential is dead or its expiry disagrees with the announced ttl. */
export function credentialWarning(expiresInS: number, ttl: number): string | undefined {
  if (expiresInS <= 0) {
    return `the credential expired ${-expiresInS} s ago: the service's clock is behind, or it signs with a past expiry`;
  }
  // A minute of slack: the request's own duration and modest clock skew.
  if (Math.abs(expiresInS - ttl) > 60) {
    return `the credential expires in ${expiresInS} s but the service announced ttl ${ttl} s: this machine's clock or the service's differs by ${Math.abs(expiresInS - ttl)} s (Coturn checks the expiry against its own clock)`;
  }
  return undefined;
}

async function checkUri(
  uri: string,
  username: string | undefined,
  credential: string | undefined,
  opts: CheckOptions,
): Promise<UriResult> {
  let parsed: IceUri;
  try {
    parsed = parseIceUri(uri);
  } catch (err) {
    return {
      uri,
      scheme: 'stun',
      transport: 'udp',
      outcome: 'failed',
      diagnosis: {
        problem: (err as Error).message,
        cause: 'the service hands out a URI browsers cannot use',
        fix: 'correct TURN_URLS / STUN_URLS (turnkey:publicHost, ports) and redeploy',
      },
    };
  }
  const transport: StunTransport = parsed.scheme.endsWith('s')
    ? 'tls'
    : (parsed.transport ?? 'udp');
  const target = { host: parsed.host, port: parsed.port, transport };
  const result: UriResult = { uri, scheme: parsed.scheme, transport, outcome: 'failed' };
  let hostAddresses: string[] = [];
  /** The host's first address of `family`, else (or without a family) the one connected to. */
  const hostAddress = (family?: AddressFamily) =>
    hostAddresses.find((h) => family !== undefined && familyOf(h) === family) ?? hostAddresses[0];
  /** What a diagnosis needs to know; `relayed` is that of the allocation the failing step used. */
  const context = () => {
    const relayed = result.outsideRelayed ?? result.relayed;
    const host = hostAddress(relayed && familyOf(relayed.address));
    return {
      ...target,
      target: describeTarget(target),
      ...(host ? { hostAddress: host } : {}),
      ...(relayed ? { relayed: relayed.address } : {}),
    };
  };
  try {
    hostAddresses = (await lookup(parsed.host, { all: true })).map((h) => h.address);
    result.hostAddress = hostAddress();
  } catch {
    // openStunChannel reports the failed lookup with its code
  }
  const tls = opts.ca ? { ca: opts.ca } : {};
  try {
    if (parsed.scheme.startsWith('stun')) {
      const binding = await bindStun({ ...target, timeoutMs: opts.timeoutMs, ...tls });
      result.allocateMs = binding.rtt;
      if (binding.mapped) result.mapped = binding.mapped;
      result.outcome = 'answered';
      return result;
    }
    if (username === undefined || credential === undefined) {
      throw new TurnError(
        0,
        'the service hands out this turn: URI without a username and credential',
      );
    }
    const cred = { ...target, username, credential, timeoutMs: opts.timeoutMs, ...tls };
    const started = performance.now();
    // As a browser allocates: no REQUESTED-ADDRESS-FAMILY.
    const a = await allocate(cred);
    result.allocateMs = Math.round(performance.now() - started);
    result.relayed = a.relayed;
    if (a.mapped) result.mapped = a.mapped;
    result.relayedFamily = familyOf(a.relayed.address);
    result.hostAddress = hostAddress(result.relayedFamily);
    result.relayedElsewhere = relayedAddressMismatch(context());
    const reachedOver = a.mapped?.address ?? hostAddresses[0];
    if (reachedOver !== undefined) result.outsideFamily = familyOf(reachedOver);
    try {
      if (result.relayedFamily !== 'ipv4') {
        result.diagnosis = ipv6RelayedByDefault(a.relayed.address);
        return result;
      }
      const b = await allocate(cred);
      try {
        result.relayRttMs = await relayBothWays(a, b, opts.timeoutMs);
      } finally {
        await b.release().catch(() => {});
      }
      await fromOutside(a, cred, result, opts.timeoutMs);
      result.outcome = 'relayed';
    } finally {
      await a.release().catch(() => {});
    }
  } catch (err) {
    result.diagnosis = diagnose(err, context());
  }
  return result;
}

/**
 * The from-outside step over the family this machine reached the relay over: against `a` when
 * its relayed address is of that family; else against an extra allocation asking for it (a
 * machine on an IPv6-only network proves the relay's IPv6 relayed addresses reachable). A relay
 * without relayed addresses of that family (440) is noted, not failed: browsers ask for none,
 * and get IPv4 ones.
 */
async function fromOutside(
  a: Allocation,
  cred: AllocateOptions,
  result: UriResult,
  timeoutMs: number,
): Promise<void> {
  const family = result.outsideFamily ?? familyOf(a.relayed.address);
  if (family === familyOf(a.relayed.address)) {
    result.outsideRttMs = await relayFromOutside(a, timeoutMs);
    return;
  }
  let c: Allocation;
  try {
    c = await allocate({ ...cred, family });
  } catch (err) {
    if (!(err instanceof TurnError && err.code === 440)) throw err;
    result.outsideNotChecked = outsideNotChecked(family, err);
    return;
  }
  try {
    result.outsideRelayed = c.relayed;
    if (familyOf(c.relayed.address) !== family) {
      throw new TurnError(
        0,
        `the relay answered an Allocate asking for an ${FAMILY_NAMES[family]} relayed address with ${c.relayed.address}`,
      );
    }
    result.outsideRttMs = await relayFromOutside(c, timeoutMs);
  } finally {
    await c.release().catch(() => {});
  }
}

const FAMILY_NAMES: Record<AddressFamily, string> = { ipv4: 'IPv4', ipv6: 'IPv6' };

function outsideNotChecked(family: AddressFamily, err: TurnError): string {
  const name = FAMILY_NAMES[family];
  const other = FAMILY_NAMES[family === 'ipv4' ? 'ipv6' : 'ipv4'];
  return `this machine reached the relay over ${name}, and the relay has no ${name} relayed addresses (${err.code} ${err.reason || 'Address Family not Supported'}), so no data was sent to a relayed address from outside; not a fault: browsers get ${other} relayed addresses, which a check from a machine with ${other} proves reachable`;
}

/**
 * Permissions both ways, then `a` sends to `b`'s relayed address and `b` echoes to `a`'s:
 * data crosses the relay twice, as between two browsers that both relay. Resolves with the
 * round trip in ms.
 */
async function relayBothWays(a: Allocation, b: Allocation, timeoutMs: number): Promise<number> {
  await a.createPermission(b.relayed.address);
  await b.createPermission(a.relayed.address);
  const stopEcho = b.onData((data, from) => b.send(from, data));
  try {
    return await echoRoundTrip(
      (probe) => a.send(b.relayed, probe),
      (onData) => a.onData(onData),
      timeoutMs,
      `no data relayed between ${fmt(a.relayed)} and ${fmt(b.relayed)} within ${timeoutMs} ms`,
    );
  } finally {
    stopEcho();
  }
}

/**
 * A plain UDP socket of this machine sends to `a`'s relayed address, as a browser's peer
 * would, and `a` echoes it back through the relay. Unlike two allocations on one relay (which
 * Coturn connects internally, mapping its external IP back to its own address), this fails
 * when the relayed address is not reachable from outside: a wrong external IP, or a firewall
 * in front of the relay port range. Resolves with the round trip in ms.
 */
async function relayFromOutside(a: Allocation, timeoutMs: number): Promise<number> {
  // Through a NAT the socket leaves from the same public IP as the TURN connection did.
  if (a.mapped) await a.createPermission(a.mapped.address);
  const socket = createSocket(familyOf(a.relayed.address) === 'ipv6' ? 'udp6' : 'udp4');
  const stopEcho = a.onData((data, from) => a.send(from, data));
  try {
    await new Promise<void>((resolve) => socket.bind(0, resolve));
    return await echoRoundTrip(
      (probe) => socket.send(probe, a.relayed.port, a.relayed.address),
      (onData) => {
        const listener = (data: Buffer) => onData(data);
        socket.on('message', listener);
        return () => socket.off('message', listener);
      },
      timeoutMs,
      `nothing sent from outside to the relayed address ${fmt(a.relayed)} came back within ${timeoutMs} ms`,
    );
  } finally {
    stopEcho();
    socket.close();
  }
}

/**
 * Sends a fresh 16-byte probe every 500 ms (UDP may lose one) until one comes back; each
 * probe is timed from its own send. Silence until `timeoutMs` is a TurnError with operation
 * 'relay'.
 */
async function echoRoundTrip(
  send: (probe: Buffer) => void,
  subscribe: (onData: (data: Buffer) => void) => () => void,
  timeoutMs: number,
  timeoutMessage: string,
): Promise<number> {
  const sentAt = new Map<string, number>();
  return new Promise<number>((resolve, reject) => {
    const sendProbe = () => {
      const probe = randomBytes(16);
      sentAt.set(probe.toString('hex'), performance.now());
      send(probe);
    };
    const unsubscribe = subscribe((data) => {
      const at = sentAt.get(data.toString('hex'));
      if (at === undefined) return;
      finish();
      resolve(Math.round(performance.now() - at));
    });
    const resend = setInterval(sendProbe, 500);
    const deadline = setTimeout(() => {
      finish();
      const err = new TurnError(0, timeoutMessage, 'timeout');
      err.operation = 'relay';
      reject(err);
    }, timeoutMs);
    const finish = () => {
      clearInterval(resend);
      clearTimeout(deadline);
      unsubscribe();
    };
    sendProbe();
  });
}

export const fmt = (a: TransportAddress): string => hostPort(a.address, a.port);
