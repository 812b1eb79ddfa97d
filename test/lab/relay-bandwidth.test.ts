import { afterAll, beforeAll, expect, it } from 'vitest';
import { type LabCoturn, startLabCoturn } from './coturn';
import { createLab, type Lab } from './lab';
import { buildRelayblast, RelayblastSession } from './relayblast';

/**
 * The shipped relay's bandwidth cap (max-bps, per allocation and direction) must leave room
 * for a 1080p call: browsers send about 2.5-4 Mbit/s of video, plus audio, RTCP and
 * retransmissions, in bursts around key frames. Coturn counts bytes per one-second window and
 * drops what goes over (ioa_socket_check_bandwidth in src/apps/relay/ns_ioalib_engine_impl.c).
 */

const MBIT = 5;
const SIZE = 1200;
const SECONDS = 3;

let lab: Lab;
let server: LabCoturn;
let bin: string;
beforeAll(async () => {
  bin = buildRelayblast();
  lab = await createLab('bw');
  server = await startLabCoturn(lab, 'relay');
});
afterAll(async () => {
  await server?.stop();
  await lab?.destroy();
});

it(`carries ${MBIT} Mbit/s through one allocation for ${SECONDS} s (a 1080p call with headroom) without throttling`, async () => {
  const session = await RelayblastSession.open(lab, bin, server, 1);
  try {
    const pps = Math.round((MBIT * 1e6) / 8 / SIZE);
    const p = await session.probe('blast', pps, SECONDS, SIZE);
    // A throttle at 4 Mbit/s drops a fifth of this; a loaded machine drops far less than 1%.
    expect(p.sent).toBe(pps * SECONDS);
    expect(p.recv / p.sent).toBeGreaterThan(0.99);
  } finally {
    await session.close();
  }
});
