import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LabCoturn, outcome, runLabUclient, startLabCoturn, uid } from './coturn';
import { createLab, type Lab } from './lab';
import { type Listener, listenUdp } from './udp';

/**
 * A relay inside a private network (a VPC, an office LAN, a VPN), the shipped config
 * unmodified: every peer there has a private address, which the deny list refuses, until
 * turnkey:allowedPeerIps lets exactly that network through. Stack config as an operator sets it
 * (publicHost the relay's private address), the relay env as the plan gives it.
 */

const MESSAGES = 5;
const PORT = 7100;

let lab: Lab;
beforeAll(async () => {
  lab = await createLab('pn');
});
afterAll(async () => lab?.destroy());

/** Runs uclient from client `a` of the private network to `peer`:PORT until refused or through. */
async function relayTo(server: LabCoturn, peer: string, arrived: () => boolean) {
  const user = uid('pn');
  const refused = outcome(user, '(CREATE_PERMISSION|CHANNEL_BIND)', 'error 403: Forbidden IP');
  await runLabUclient(
    lab,
    lab.privateNet.a.ns,
    server,
    user,
    ['-e', peer, '-r', String(PORT), '-n', '3', '-c'],
    { until: () => refused.test(server.log()) || arrived(), timeoutMs: 20_000 },
  );
  // Datagrams still in flight when the client stopped.
  await new Promise((r) => setTimeout(r, 300));
  return {
    user,
    refused: refused.test(server.log()),
    allocated: outcome(user, 'ALLOCATE', 'success').test(server.log()),
  };
}

describe('with turnkey:allowedPeerIps set to the private network', () => {
  let server: LabCoturn;
  const refusals: Listener[] = [];
  let onB: Listener;
  beforeAll(async () => {
    const { relayIp, cidr, a, b } = lab.privateNet;
    server = await startLabCoturn(lab, 'relay', {
      // Alibaba Cloud's metadata address sits in 100.64.0.0/10: left out of the allowance.
      stack: { publicHost: relayIp, allowedPeerIps: `${cidr},100.64.0.0/10` },
      readyFrom: a.ns,
    });
    onB = await listenUdp(lab, b.ns, b.ip, [PORT]);
    for (const ip of ['127.0.0.1', '10.99.0.1', '169.254.169.254', '100.100.100.200'])
      refusals.push(await listenUdp(lab, lab.relay.ns, ip, [PORT]));
  });
  afterAll(async () => {
    onB?.stop();
    for (const l of refusals) l.stop();
    await server?.stop();
  });

  it('two clients on the segment relay every message to each other (client-to-client)', async () => {
    const runs = await Promise.all(
      [lab.privateNet.a, lab.privateNet.b].map(async (client) => {
        const user = uid('vpc');
        const r = await runLabUclient(
          lab,
          client.ns,
          server,
          user,
          ['-y', '-n', String(MESSAGES), '-m', '1', '-c'],
          { timeoutMs: 40_000 },
        );
        return { user, ...r };
      }),
    );
    for (const r of runs) {
      const context = `${r.output}\n--- server ---\n${server.log()}`;
      expect(r.code, context).toBe(0);
      expect(r.output, context).toMatch(
        new RegExp(`tot_send_msgs=${2 * MESSAGES}, tot_recv_msgs=${2 * MESSAGES}\\b`),
      );
      expect(server.log()).not.toMatch(outcome(r.user, '\\w+', 'error'));
    }
  });

  it('a client relays to another host of the segment, which sees the relay’s private address', async () => {
    const r = await relayTo(server, lab.privateNet.b.ip, () => onB.received().length > 0);
    expect(r.refused, server.log()).toBe(false);
    expect(onB.received().length).toBeGreaterThan(0);
    for (const d of onB.received()) expect(d.from.split(':')[0]).toBe(lab.privateNet.relayIp);
  });

  it.each([
    '10.99.0.1',
    '169.254.169.254',
    '100.100.100.200',
    '127.0.0.1',
    '::ffff:169.254.169.254',
  ])('still refuses %s, outside the allowance, and nothing arrives', async (peer) => {
    const before = refusals.map((l) => l.received().length);
    const r = await relayTo(server, peer, () => false);
    expect(r.allocated, server.log()).toBe(true);
    expect(r.refused, server.log()).toBe(true);
    expect(refusals.map((l, i) => l.received().slice(before[i]))).toEqual(refusals.map(() => []));
  });
});

describe('without the allowance', () => {
  let server: LabCoturn;
  let onB: Listener;
  beforeAll(async () => {
    server = await startLabCoturn(lab, 'relay', {
      stack: { publicHost: lab.privateNet.relayIp },
      readyFrom: lab.privateNet.a.ns,
    });
    onB = await listenUdp(lab, lab.privateNet.b.ns, lab.privateNet.b.ip, [PORT]);
  });
  afterAll(async () => {
    onB?.stop();
    await server?.stop();
  });

  it('refuses a peer on the private network (403 Forbidden IP), and nothing arrives', async () => {
    const r = await relayTo(server, lab.privateNet.b.ip, () => onB.received().length > 0);
    expect(r.allocated, server.log()).toBe(true);
    expect(r.refused, server.log()).toBe(true);
    expect(onB.received()).toEqual([]);
  });
});
