import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { IceServer } from '../../service/providers/types';

/** Debian's Chromium (never a downloaded browser), with the flags this closed network needs. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--allow-loopback-in-peer-connection',
    ],
  });
}

export interface ConnectResult {
  opened: boolean;
  message?: string;
  iceState?: string;
  local?: { candidateType: string; relayProtocol?: string; address: string };
  remote?: { candidateType: string; address: string };
}

/** A page on the service's origin, loaded by the browser itself with the API token. */
export async function openIceServersPage(browser: Browser, url: string, token: string) {
  const context = await browser.newContext({
    extraHTTPHeaders: { authorization: `Bearer ${token}` },
  });
  const page = await context.newPage();
  const response = await page.goto(url);
  await page.addScriptTag({ path: join(__dirname, '../e2e/webrtc-page.js') });
  return {
    page,
    status: response?.status(),
    body: (await response?.json()) as { iceServers: IceServer[]; ttl: number },
  };
}

/** What webrtc-page.js puts on the page's global object (no DOM types in this project). */
interface TurnkeyTest {
  connect(args: unknown): Promise<ConnectResult>;
  firstRelayCandidate(args: unknown): Promise<string | null>;
}

export function relayConnect(
  page: Page,
  iceServers: IceServer[],
  timeoutMs = 15_000,
): Promise<ConnectResult> {
  // Serialized into the page: it can use only its argument and the page's globals.
  return page.evaluate(
    (args) => (globalThis as unknown as { turnkeyTest: TurnkeyTest }).turnkeyTest.connect(args),
    { iceServers, timeoutMs },
  );
}

export function firstRelayCandidate(
  page: Page,
  iceServers: IceServer[],
  timeoutMs = 6_000,
): Promise<string | null> {
  return page.evaluate(
    (args) =>
      (globalThis as unknown as { turnkeyTest: TurnkeyTest }).turnkeyTest.firstRelayCandidate(args),
    { iceServers, timeoutMs },
  );
}
