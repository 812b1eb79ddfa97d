import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';
import type { IceServer } from '../../service/providers/types';
import type { Lab } from './lab';

/**
 * Debian's Chromium inside a lab namespace, driven by playwright-core. Playwright talks to the
 * browser over a pipe (inherited file descriptors), which crosses namespaces, while all of the
 * browser's own traffic leaves from the namespace's address, behind that site's NAT.
 *
 * A test CA is trusted the way a user's machine trusts one: in the NSS database of the
 * browser's (temporary) HOME, which Chromium on Linux reads for locally added roots. So a
 * turns: connection is verified against the chain and the certificate's IP SAN, not waved
 * through with --ignore-certificate-errors.
 */

export interface LabBrowser {
  ns: string;
  browser: Browser;
  /** A fresh page with the peer script loaded. */
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function launchLabChromium(ns: string, opts: { caPem?: string } = {}) {
  const home = mkdtempSync(join(tmpdir(), `turnkey-chromium-${ns}-`));
  const nssdb = join(home, '.pki/nssdb');
  mkdirSync(nssdb, { recursive: true });
  const certutil = (...args: string[]) =>
    execFileSync('certutil', ['-d', `sql:${nssdb}`, ...args], { stdio: 'pipe' });
  certutil('-N', '--empty-password');
  if (opts.caPem) {
    writeFileSync(join(home, 'ca.pem'), opts.caPem);
    // C: a trusted CA for TLS servers.
    certutil('-A', '-t', 'C,,', '-n', 'turnkey test CA', '-i', join(home, 'ca.pem'));
  }
  // The executable playwright starts: the same Chromium, entered into the namespace first.
  const wrapper = join(home, 'chromium-in-ns');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec '${ns}' /usr/bin/chromium "$@"\n`);
  chmodSync(wrapper, 0o755);
  let browser: Browser;
  try {
    browser = await chromium.launch({
      executablePath: wrapper,
      headless: true,
      env: { ...process.env, HOME: home },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  } catch (err) {
    rmSync(home, { recursive: true, force: true });
    throw err;
  }
  return {
    ns,
    browser,
    async newPage() {
      const page = await (await browser.newContext()).newPage();
      await page.addScriptTag({ path: join(__dirname, 'webrtc-peer.js') });
      return page;
    },
    async close() {
      await browser.close().catch(() => {});
      rmSync(home, { recursive: true, force: true });
    },
  } satisfies LabBrowser;
}

/** One Chromium in each NATed client site (site B's NAT is symmetric), both trusting `caPem`. */
export function launchSites(lab: Lab, caPem: string): Promise<[LabBrowser, LabBrowser]> {
  return Promise.all([
    launchLabChromium(lab.siteA.ns, { caPem }),
    launchLabChromium(lab.siteB.ns, { caPem }),
  ]);
}

export interface CandidateInfo {
  candidateType: string;
  relayProtocol?: string;
  /** For a local relay candidate: the ICE server URL it was allocated on. */
  url?: string;
  address?: string;
  protocol?: string;
}

export interface PeerResult {
  /** The message expected from the other side, if it arrived. */
  received?: string;
  iceState: string;
  connectionState: string;
  channelState: string;
  /** Everything the other side's messages delivered, in order. */
  inbox: string[];
  /** When the channel existed, opened, each message was sent and received (ms since create). */
  times: Record<string, unknown>;
  selected?: { local: CandidateInfo; remote: CandidateInfo };
  /** Every relay candidate this side allocated (local-candidate stats of type relay). */
  relays?: CandidateInfo[];
}

/** How long a call may take to connect, and then to deliver a message once its channel is open. */
export interface ExchangeTimes {
  connectMs: number;
  deliverMs: number;
}
const CALL_TIMES: ExchangeTimes = { connectMs: 30_000, deliverMs: 10_000 };

/** What webrtc-peer.js puts on the page (no DOM types in this project). */
interface Peer {
  create(args: {
    iceServers: IceServer[];
    initiator: boolean;
    iceTransportPolicy?: 'relay';
  }): Promise<string | null>;
  accept(description: string): Promise<string | null>;
  addCandidate(candidate: string): Promise<void>;
  exchange(args: { message: string; expect: string } & ExchangeTimes): Promise<PeerResult>;
  hangUp(): void;
  firstRelayCandidate(args: { iceServers: IceServer[]; timeoutMs: number }): Promise<string | null>;
}
const peer = (page: Page) => ({
  create: (iceServers: IceServer[], initiator: boolean, policy?: CallOptions['policy']) =>
    page.evaluate((a) => (globalThis as unknown as { turnkeyPeer: Peer }).turnkeyPeer.create(a), {
      iceServers,
      initiator,
      ...(policy ? { iceTransportPolicy: policy } : {}),
    }),
  accept: (description: string) =>
    page.evaluate(
      (d) => (globalThis as unknown as { turnkeyPeer: Peer }).turnkeyPeer.accept(d),
      description,
    ),
  addCandidate: (candidate: string) =>
    page.evaluate(
      (c) => (globalThis as unknown as { turnkeyPeer: Peer }).turnkeyPeer.addCandidate(c),
      candidate,
    ),
});

/**
 * The one way a lab call talks: this page sends `message` (as soon as its channel is open) and
 * waits for `expect` from the other page, recorded from the moment the channel existed.
 */
export function exchange(
  page: Page,
  message: string,
  expect: string,
  times: ExchangeTimes = CALL_TIMES,
): Promise<PeerResult> {
  return page.evaluate(
    (a) => (globalThis as unknown as { turnkeyPeer: Peer }).turnkeyPeer.exchange(a),
    { message, expect, ...times },
  );
}

/**
 * Two pages (in two sites' namespaces) connect with the default ICE policy: offer, answer and
 * trickled candidates are carried by this process (the app's signalling), never by the lab
 * network. Each side sends a message over a data channel; returns what each side saw. No
 * redial: a call that does not deliver both ways is a failure for the caller to print.
 */
/** `policy: 'relay'`: only relayed candidates, as an app forcing TURN sets iceTransportPolicy. */
export interface CallOptions {
  policy?: 'relay';
}

export async function connectPages(
  a: Page,
  b: Page,
  iceServers: { a: IceServer[]; b: IceServer[] },
  opts: CallOptions = {},
): Promise<{ a: PeerResult; b: PeerResult }> {
  const pa = peer(a);
  const pb = peer(b);
  // Candidates each page trickles, forwarded to the other page (which queues them until it
  // has the remote description).
  const bindings: [Page, ReturnType<typeof peer>][] = [
    [a, pb],
    [b, pa],
  ];
  for (const [from, to] of bindings)
    await from.exposeFunction('turnkeySignal', (candidate: string) =>
      to.addCandidate(candidate).catch(() => {}),
    );
  const offer = (await pa.create(iceServers.a, true, opts.policy)) as string;
  await pb.create(iceServers.b, false, opts.policy);
  const answer = (await pb.accept(offer)) as string;
  await pa.accept(answer);
  const [ra, rb] = await Promise.all([
    exchange(a, 'hello from site A', 'hello from site B'),
    exchange(b, 'hello from site B', 'hello from site A'),
  ]);
  return { a: ra, b: rb };
}

/** Ends the page's call as an app does (pc.close()), releasing its allocations on the relay. */
export async function hangUp(page: Page): Promise<void> {
  await page.evaluate(() => (globalThis as unknown as { turnkeyPeer: Peer }).turnkeyPeer.hangUp());
}

/**
 * Hangs up both sides, then closes their pages. Closing a page alone leaves its allocations
 * on the relay until they expire (minutes), which would hold a relay's drain that long.
 */
export async function endCall(...pages: Page[]): Promise<void> {
  await Promise.all(pages.map((p) => hangUp(p).catch(() => {})));
  await Promise.all(pages.map((p) => p.context().close()));
}

/** A call between two sites' pages, left running until `close` hangs it up. */
export interface Call {
  a: Page;
  b: Page;
  /** What connecting showed: each side's first message, state and selected pair. */
  result: { a: PeerResult; b: PeerResult };
  close(): Promise<void>;
}

/** A call from a page in `sites[0]` to one in `sites[1]`, both with `servers`. */
export async function startCall(
  sites: [LabBrowser, LabBrowser],
  servers: IceServer[],
  opts: CallOptions = {},
): Promise<Call> {
  const [a, b] = await Promise.all([sites[0].newPage(), sites[1].newPage()]);
  try {
    const result = await connectPages(a, b, { a: servers, b: servers }, opts);
    return { a, b, result, close: () => endCall(a, b) };
  } catch (err) {
    await endCall(a, b);
    throw err;
  }
}

/** Both sides of a running call send one more message each (naming `label`), and wait for the other's. */
export const talk = (call: Call, label: string | number) =>
  Promise.all([
    exchange(call.a, `A ${label}`, `B ${label}`),
    exchange(call.b, `B ${label}`, `A ${label}`),
  ]);

/** The first relay candidate the page gathers with these servers, or null (no wait for the end of gathering). */
export function firstRelayCandidate(
  page: Page,
  iceServers: IceServer[],
  timeoutMs = 8_000,
): Promise<string | null> {
  return page.evaluate(
    (a) => (globalThis as unknown as { turnkeyPeer: Peer }).turnkeyPeer.firstRelayCandidate(a),
    { iceServers, timeoutMs },
  );
}

/**
 * What a user relies on in a call between two NATed sites: both sides heard the other, and
 * the path went through an allocation at the relay `ip`. Which side's stats name the relay as
 * the selected pair's *local* candidate varies (one side may send from its own address
 * through its NAT straight to the other's relayed address, and Chrome may then report its
 * local end as prflx), so each side's selected pair must hold a relay candidate, every one at
 * `ip`.
 */
export function expectCallRelayedVia(
  result: { a: PeerResult; b: PeerResult },
  ip: string,
  seen = JSON.stringify(result),
): void {
  expect(result.a.received, seen).toBe('hello from site B');
  expect(result.b.received, seen).toBe('hello from site A');
  for (const side of [result.a, result.b]) {
    const pair = [side.selected?.local, side.selected?.remote];
    expect(
      pair.map((c) => c?.candidateType),
      seen,
    ).toContain('relay');
    for (const c of pair) if (c?.candidateType === 'relay') expect(c.address, seen).toBe(ip);
  }
}

/** Both sides of a running call send one more message and get the other's, never having blipped. */
export async function expectStillTalking(call: Call, label: string): Promise<void> {
  const [a, b] = await talk(call, label);
  const seen = JSON.stringify({ a, b });
  expect(a.received, seen).toBe(`B ${label}`);
  expect(b.received, seen).toBe(`A ${label}`);
  // Never even a blip: consent checks through the relay went on all along.
  for (const side of [a, b]) {
    expect(side.iceState, seen).toBe('connected');
    expect(side.times['ice:disconnected'], seen).toBeUndefined();
  }
}
