import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStackConfig, valuesSource } from '../../infra';
import {
  expectClientToClient,
  expectPeerRefused,
  type LabCoturn,
  outcome,
  type RelayHost,
  runLabUclient,
  startLabCoturn,
  type UclientTransport,
  uid,
} from './coturn';
import { createLab, type Lab } from './lab';
import { type Listener, listenUdp } from './udp';

/**
 * The shipped relay, unmodified, between peers with public (lab) addresses: on a host with a
 * public address and on a cloud host behind 1:1 NAT (stack config as an operator sets it).
 */

let lab: Lab;
beforeAll(async () => {
  lab = await createLab('rly');
});
afterAll(async () => lab?.destroy());

describe.each<RelayHost>(['relay', 'cloud'])('the shipped relay on the %s host', (host) => {
  let server: LabCoturn;
  beforeAll(async () => {
    server = await startLabCoturn(lab, host, { tls: true });
  });
  afterAll(async () => server?.stop());

  it.each<UclientTransport>(['UDP', 'TCP', 'TLS'])(
    'relays every message client-to-client over %s, from both NATed sites',
    async (transport) => {
      await expectClientToClient(
        lab,
        server,
        [
          { label: 'siteA', ns: lab.siteA.ns },
          { label: 'siteB', ns: lab.siteB.ns },
        ],
        transport,
      );
    },
  );
});

/** Peers a client must never reach through the relay, each with a listener the lab placed there. */
describe.each<RelayHost>(['relay', 'cloud'])('refusals on the %s host, by attempt', (host) => {
  let server: LabCoturn;
  const listeners: Listener[] = [];
  const PORT = 7000;
  const ns = () => (host === 'relay' ? lab.relay.ns : lab.cloud.ns);
  beforeAll(async () => {
    server = await startLabCoturn(lab, host);
    for (const ip of ['127.0.0.1', '10.99.0.1', '169.254.169.254'])
      listeners.push(await listenUdp(lab, ns(), ip, [PORT]));
    // The cloud host's private address, seen from another relay host.
    if (host === 'relay') listeners.push(await listenUdp(lab, lab.cloud.ns, lab.cloud.ip, [PORT]));
  });
  afterAll(async () => {
    for (const l of listeners) l.stop();
    await server?.stop();
  });

  // uclient sends an IPv4-mapped peer as an IPv6 address (on an IPv6 allocation).
  const peers = [
    '127.0.0.1',
    '10.99.0.1',
    '169.254.169.254',
    '::ffff:127.0.0.1',
    '::ffff:10.99.0.1',
    '::ffff:169.254.169.254',
    ...(host === 'relay' ? ['10.0.1.10', '::ffff:10.0.1.10'] : []),
  ];
  it.each(peers)('refuses a relay to %s with 403, and nothing arrives', async (peer) => {
    await expectPeerRefused(lab, server, lab.siteA.ns, peer, PORT, listeners);
  });

  it.runIf(host === 'cloud')(
    'allows the host’s own private address (PUBLIC/PRIVATE): a UDP service listening there is reachable through the relay',
    async () => {
      const exposed = await listenUdp(lab, ns(), lab.cloud.ip, [PORT + 1]);
      try {
        const user = uid('private');
        await runLabUclient(
          lab,
          lab.siteA.ns,
          server,
          user,
          ['-e', lab.cloud.ip, '-r', String(PORT + 1), '-n', '3', '-c'],
          { until: () => exposed.received().length > 0, timeoutMs: 20_000 },
        );
        expect(server.log()).toMatch(outcome(user, '(CREATE_PERMISSION|CHANNEL_BIND)', 'success'));
        expect(exposed.received().length).toBeGreaterThan(0);
        for (const d of exposed.received()) expect(d.from).toMatch(/^10\.0\.1\.10:/);
      } finally {
        exposed.stop();
      }
    },
  );
});

describe('turnkey:externalIp as the public IP alone, behind 1:1 NAT', () => {
  // Coturn would map a peer at the public address back to the private relay address, which
  // the deny list refuses: "A peer IP 10.0.1.10 denied in the range: 10.0.0.0-10.255.255.255",
  // 403, and two clients relaying through this host never reach each other.
  it('is refused up front by the stack config and by the entrypoint, naming the PUBLIC/PRIVATE fix', async () => {
    const values: Record<string, string> = {
      publicHost: lab.cloud.publicIp,
      externalIp: lab.cloud.publicIp,
    };
    expect(() => readStackConfig(valuesSource(values))).toThrow(
      /^turnkey:externalIp must be PUBLIC\/PRIVATE.*turnkey:externalIp 11\.0\.0\.20\/10\.0\.0\.5/,
    );
    const started = startLabCoturn(lab, 'cloud', { env: { EXTERNAL_IP: lab.cloud.publicIp } });
    await expect(started).rejects.toThrow(
      /exited \(64\)[\s\S]*turnkey-coturn: EXTERNAL_IP must be PUBLIC\/PRIVATE .*EXTERNAL_IP=11\.0\.0\.20\/.*turnkey:externalIp/,
    );
  });
});
