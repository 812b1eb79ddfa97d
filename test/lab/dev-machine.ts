import { expect } from 'vitest';
import { bundle } from '../helpers/process';
import { type LabBrowser, startCall } from './browser';
import { backendIceServers, onlyTransport, type RelayTransport } from './deployment';
import type { Lab } from './lab';

/**
 * What a developer does with a relay on their own machine (`ns`, a lab host with its own
 * engine standing in for it), whichever way it was deployed (the dev stack, turnkey compose):
 * two tabs forcing relayed candidates call each other through it, and `turnkey check` passes.
 */

/** Two Chromium pages with iceTransportPolicy 'relay' exchange data through the local relay. */
export async function expectRelayedCall(
  lab: Lab,
  chromium: LabBrowser,
  iceServersUrl: string,
  token: string,
  transport: RelayTransport,
): Promise<void> {
  const { status, body } = await backendIceServers(
    lab,
    `${iceServersUrl}?user=dev${transport}`,
    token,
  );
  expect(status).toBe(200);
  const call = await startCall([chromium, chromium], onlyTransport(body.iceServers, transport), {
    policy: 'relay',
  });
  try {
    const seen = JSON.stringify(call.result);
    expect(call.result.a.received, seen).toBe('hello from site B');
    expect(call.result.b.received, seen).toBe('hello from site A');
    for (const side of [call.result.a, call.result.b]) {
      expect(side.selected?.local?.candidateType, seen).toBe('relay');
      expect(side.selected?.local?.address, seen).toBe('127.0.0.1');
      expect(side.selected?.local?.relayProtocol, seen).toBe(transport);
    }
  } finally {
    await call.close();
  }
}

/** `turnkey check` from `ns`: STUN answers and every TURN URI relays; exit 0. */
export async function expectCheckPasses(
  lab: Lab,
  ns: string,
  iceServersUrl: string,
  token: { env: string } | { file: string },
): Promise<void> {
  const r = await lab.exec(
    ns,
    [
      process.execPath,
      bundle('cli/main.ts'),
      'check',
      '--url',
      iceServersUrl,
      '--json',
      ...('file' in token ? ['--token-file', token.file] : []),
    ],
    {
      env: 'env' in token ? { TURNKEY_API_TOKEN: token.env } : {},
      timeoutMs: 90_000,
    },
  );
  const report = JSON.parse(r.stdout) as { results: { scheme: string; outcome: string }[] };
  expect(
    report.results.map((x) => [x.scheme, x.outcome]),
    r.stdout,
  ).toEqual(report.results.map((x) => [x.scheme, x.scheme === 'stun' ? 'answered' : 'relayed']));
  expect(report.results.filter((x) => x.scheme === 'turn')).toHaveLength(2);
  expect(r.code, r.stdout + r.stderr).toBe(0);
}
