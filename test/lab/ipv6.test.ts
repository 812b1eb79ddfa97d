import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigSource, ContainerPlan } from '../../infra';
import { planFleet, readFleetConfig } from '../../infra';
import type { CheckReport } from '../../service/check/run';
import type { IceServer } from '../../service/providers/types';
import { bundle } from '../helpers/process';
import { REPO_ROOT } from '../helpers/stack';
import { type LabAcme, startAcme } from './acme';
import { expectCallRelayedVia, type LabBrowser, launchLabChromium, startCall } from './browser';
import {
  cloudExternalIp,
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
import { createLab, type Lab, REFUSAL_ADDRS6 } from './lab';
import { startLabService } from './service';
import { type Listener, listenUdp } from './udp';

/**
 * The shipped relay, unmodified, on dual-stack hosts: the relay host with global addresses of
 * both families, the cloud host behind 1:1 NAT in both (turnkey:externalIp with an IPv4 and an
 * IPv6 pair). Clients in the IPv6-only phone's network, the dual-stack home and the IPv4-only
 * sites; peers with public lab addresses.
 */

let lab: Lab;
beforeAll(async () => {
  lab = await createLab('v6');
});
afterAll(async () => lab?.destroy());

describe.each<RelayHost>(['relay', 'cloud'])(
  'the shipped relay on the %s host, over IPv6',
  (host) => {
    let server: LabCoturn;
    beforeAll(async () => {
      server = await startLabCoturn(lab, host, { tls: true });
    });
    afterAll(async () => server?.stop());

    it.each<UclientTransport>(['UDP', 'TCP', 'TLS'])(
      'relays every message client-to-client over IPv6 %s, from the IPv6-only phone and the dual-stack home',
      async (transport) => {
        await expectClientToClient(
          lab,
          server,
          [
            { label: 'phone', ns: lab.phone.ns },
            { label: 'home', ns: lab.home.ns },
          ],
          transport,
          { address: server.publicIp6 },
        );
      },
    );

    it('gives a client that asks for no family an IPv4 relayed address, also over IPv6 (what lets an IPv6-only phone reach IPv4-only peers)', async () => {
      // Four clients, eight allocations: every one gets the host's public IPv4 address, also
      // on a host with another, private IPv4 address (the relay host's private network, as a
      // Docker host's docker0 or a cloud VM's second interface would be).
      const [run] = await expectClientToClient(
        lab,
        server,
        [{ label: 'default', ns: lab.phone.ns }],
        'UDP',
        { address: server.publicIp6, flags: ['-v'], clients: 4 },
      );
      const relayed = [...(run?.output ?? '').matchAll(/(IPv[46])\. Received relay addr: (\S+)/g)];
      // (uclient makes one more allocation than it relays through.)
      expect(relayed.length).toBeGreaterThanOrEqual(8);
      expect(new Set(relayed.map((m) => m[1]))).toEqual(new Set(['IPv4']));
      for (const m of relayed) expect(m[2]).toMatch(new RegExp(`^${ipv4Of(server)}:\\d+$`));
    });

    it.runIf(host === 'relay')(
      'relays between IPv6 relayed addresses when a client asks for them, from the IPv6-only phone and from an IPv4-only site',
      async () => {
        const runs = await expectClientToClient(
          lab,
          server,
          [
            { label: 'phone6', ns: lab.phone.ns, address: server.publicIp6 },
            { label: 'siteA6', ns: lab.siteA.ns },
          ],
          'UDP',
          // The phone reaches the relay over IPv6; site A over IPv4 (it has no IPv6).
          { flags: ['-x', '-v'] },
        );
        for (const r of runs) {
          const relayed = [...r.output.matchAll(/(IPv[46])\. Received relay addr: (\S+)/g)];
          expect(relayed.length, r.label).toBeGreaterThanOrEqual(2);
          expect(new Set(relayed.map((m) => m[1])), r.label).toEqual(new Set(['IPv6']));
          for (const m of relayed) expect(m[2]?.startsWith(`${ipv6Of(server)}:`), m[2]).toBe(true);
        }
      },
    );

    // Coturn 4.18 maps a peer at its public IPv6 address back to the private half, a
    // unique-local address, and refuses every fc00::/7 peer before its allow list
    // (ns_turn_server.c good_peer_addr, ioa_addr_is_internal_deny_default): two IPv6 relayed
    // addresses of a relay behind NAT66 cannot reach each other. Browsers never ask for IPv6
    // relayed addresses, and peers elsewhere reach them (the refusals suite's public-peer
    // case): this pins the limit README states, should a later Coturn lift it.
    it.runIf(host === 'cloud')(
      'refuses a relay between two of its IPv6 relayed addresses behind NAT66 (a Coturn limit), while IPv4 relayed addresses relay',
      async () => {
        const user = uid('nat66');
        const refused = outcome(
          user,
          '(CREATE_PERMISSION|CHANNEL_BIND)',
          'error 403: Forbidden IP',
        );
        await runLabUclient(lab, lab.phone.ns, server, user, ['-y', '-x', '-n', '3', '-c'], {
          until: refused,
          timeoutMs: 20_000,
          address: server.publicIp6,
        });
        expect(server.log()).toMatch(refused);
        expect(server.log()).toMatch(new RegExp(`A peer IP ${lab.cloud.ip6} denied`));
      },
    );
  },
);

/** The relayed addresses a host announces: its public ones. */
const ipv4Of = (server: LabCoturn) =>
  (server.host === 'relay' ? lab.relay.ip : lab.cloud.publicIp).replaceAll('.', '\\.');
const ipv6Of = (server: LabCoturn) => server.publicIp6;

/**
 * IPv6 peers a client must never reach through the relay, each with a listener the lab placed
 * there: loopback services of the relay host (::1, and 127.0.0.1 in every IPv6 form), cloud
 * metadata and unique-local addresses, link-local, and a private IPv4 address (10.99.0.1) as
 * IPv4-mapped, IPv4-translated, NAT64 and 6to4 forms. Asked for by an IPv6-only client.
 */
describe.each<RelayHost>(['relay', 'cloud'])('IPv6 refusals on the %s host, by attempt', (host) => {
  let server: LabCoturn;
  const listeners: Listener[] = [];
  const PORT = 7000;
  const ns = () => (host === 'relay' ? lab.relay.ns : lab.cloud.ns);
  beforeAll(async () => {
    server = await startLabCoturn(lab, host);
    // (A link-local address is bound with its interface.)
    for (const ip of ['127.0.0.1', '::1', '10.99.0.1', ...REFUSAL_ADDRS6])
      listeners.push(await listenUdp(lab, ns(), ip.startsWith('fe80:') ? `${ip}%lo` : ip, [PORT]));
    // The cloud host's unique-local address, seen from the relay host.
    if (host === 'relay') listeners.push(await listenUdp(lab, lab.cloud.ns, lab.cloud.ip6, [PORT]));
  });
  afterAll(async () => {
    for (const l of listeners) l.stop();
    await server?.stop();
  });

  const peers = [
    '::1',
    '::ffff:127.0.0.1',
    '::127.0.0.1',
    '64:ff9b::7f00:1',
    '::ffff:0:7f00:1',
    'fd00:ec2::254',
    'fd99::1',
    'fe80::99',
    '::ffff:10.99.0.1',
    '::ffff:0:a63:1',
    '64:ff9b::a63:1',
    '2002:a63:1::1',
    ...(host === 'relay' ? ['fd00:1::10'] : []),
  ];
  it.each(peers)('refuses a relay to %s with 403, and nothing arrives', async (peer) => {
    await expectPeerRefused(lab, server, lab.phone.ns, peer, PORT, listeners, {
      flags: ['-x'],
      address: server.publicIp6,
    });
  });

  it('relays to a peer at a public IPv6 address, which sees the relay’s public IPv6 address', async () => {
    const far = await listenUdp(lab, lab.peer.ns, lab.peer.ip6, [PORT + 1]);
    try {
      const user = uid('out6');
      const r = await runLabUclient(
        lab,
        lab.phone.ns,
        server,
        user,
        ['-x', '-e', lab.peer.ip6, '-r', String(PORT + 1), '-n', '3', '-c'],
        {
          until: () => far.received().length >= 3,
          timeoutMs: 20_000,
          address: server.publicIp6,
        },
      );
      expect(far.received().length, `${r.output}\n${server.log()}`).toBeGreaterThan(0);
      for (const d of far.received())
        expect(d.from).toMatch(new RegExp(`^\\[${server.publicIp6}\\]:`));
    } finally {
      far.stop();
    }
  });
});

/**
 * Browsers across families: Chromium on the IPv6-only phone reaches the relay over IPv6 by
 * its name (A and AAAA in the lab's DNS), is handed an IPv4 relayed address, and so calls
 * Chromium in an IPv4-only site and in the dual-stack home. No browser ever asks for an
 * address family: what it gets is the relay's default.
 */
describe.each<RelayHost>(['relay', 'cloud'])(
  'Chromium across address families, through the %s host',
  (host) => {
    let server: LabCoturn;
    let acme: LabAcme;
    let phone: LabBrowser;
    let siteA: LabBrowser;
    let home: LabBrowser;
    const name = `${host}.dual.lab.test`;
    const publicIp = () => (host === 'relay' ? lab.relay.ip : lab.cloud.publicIp);
    beforeAll(async () => {
      acme = await startAcme(lab);
      await acme.setAddress(name, publicIp());
      await acme.setAddress6(name, host === 'relay' ? lab.relay.ip6 : lab.cloud.publicIp6);
      server = await startLabCoturn(lab, host, { stack: { publicHost: name } });
      [phone, siteA, home] = await Promise.all([
        launchLabChromium(lab.phone.ns),
        launchLabChromium(lab.siteA.ns),
        launchLabChromium(lab.home.ns),
      ]);
    });
    afterAll(async () => {
      await Promise.all([phone?.close(), siteA?.close(), home?.close()]);
      await server?.stop();
      await acme?.stop();
    });

    const servers = (user: string): IceServer[] => {
      const { username, credential } = server.credential(user);
      return [{ urls: [`turn:${name}:${server.turnPort}?transport=udp`], username, credential }];
    };

    it('the IPv6-only phone calls an IPv4-only site: the call is relayed, through the relay’s IPv4 address', async () => {
      const call = await startCall([phone, siteA], servers(uid('phone')));
      try {
        expectCallRelayedVia(call.result, publicIp());
        // Every relay candidate the phone got is IPv4, though it has no IPv4 of its own.
        expect(call.result.a.relays?.length, JSON.stringify(call.result)).toBeGreaterThan(0);
        for (const c of call.result.a.relays ?? []) expect(c.address).toBe(publicIp());
      } finally {
        await call.close();
      }
    });

    it('the dual-stack home calls the IPv6-only phone, both forced to relay', async () => {
      const call = await startCall([home, phone], servers(uid('home')), { policy: 'relay' });
      try {
        expectCallRelayedVia(call.result, publicIp());
      } finally {
        await call.close();
      }
    });
  },
);

/**
 * A two-region fleet on the two dual-stack hosts, each relay named by a DNS name with A and
 * AAAA records: the plan's relays and credential services (as processes in the hosts'
 * namespaces), one secret. Every URI either host hands out relays, from the IPv6-only phone
 * and from an IPv4-only site alike.
 */
describe('a two-region fleet of dual-stack relays', () => {
  const names = { relay: 'eu.fleet.lab.test', cloud: 'us.fleet.lab.test' };
  const turnSecret = randomBytes(32).toString('hex');
  const token = randomBytes(32).toString('hex');
  let acme: LabAcme;
  let dir: string;
  let caFile: string;
  const relays: LabCoturn[] = [];
  const services: ChildProcess[] = [];
  let urls: string[] = [];

  beforeAll(async () => {
    acme = await startAcme(lab);
    await acme.setAddress(names.relay, lab.relay.ip);
    await acme.setAddress6(names.relay, lab.relay.ip6);
    await acme.setAddress(names.cloud, lab.cloud.publicIp);
    await acme.setAddress6(names.cloud, lab.cloud.publicIp6);
    dir = mkdtempSync(join(tmpdir(), 'turnkey-lab-fleet6-'));
    const values: Record<string, string> = {
      'turnkey:provider': 'coturn',
      'turnkey:relays': JSON.stringify([
        { publicHost: names.relay, region: 'eu-west', dockerHost: 'ssh://deploy@eu' },
        {
          name: 'us-east',
          publicHost: names.cloud,
          externalIp: cloudExternalIp(lab),
          region: 'us-east',
          dockerHost: 'ssh://deploy@us',
        },
      ]),
    };
    const source: ConfigSource = {
      get: (key) => values[`turnkey:${key}`],
      has: (key) => `turnkey:${key}` in values || ['tlsCert', 'tlsKey'].includes(key),
    };
    const fleet = planFleet(readFleetConfig(source), { stack: 'lab', projectRoot: REPO_ROOT });
    urls = fleet.outputs.iceServersUrls;
    const hosts: RelayHost[] = ['relay', 'cloud'];
    for (const host of hosts)
      relays.push(
        await startLabCoturn(lab, host, {
          tls: true,
          turnSecret,
          stack: {
            publicHost: names[host],
            ...(host === 'cloud' ? { externalIp: cloudExternalIp(lab) } : {}),
          },
        }),
      );
    caFile = join(dir, 'cas.pem');
    writeFileSync(caFile, relays.map((r) => r.pki?.caPem).join(''));
    for (const [i, h] of fleet.hosts.entries()) {
      const relay = relays[i] as LabCoturn;
      const service = h.plan.containers.find((c) => c.role === 'service') as ContainerPlan;
      const svc = await startLabService(lab, relay, service.env, {
        dir,
        token,
        turnSecret,
        extraEnv: {
          REVOCATIONS_DIR: mkdtempSync(join(dir, 'revocations-')),
          NODE_EXTRA_CA_CERTS: caFile,
        },
      });
      services.push(svc.child);
    }
  }, 120_000);
  afterAll(async () => {
    for (const s of services) s.kill('SIGKILL');
    for (const r of relays) await r.stop();
    await acme?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['the IPv6-only phone', () => lab.phone.ns],
    ['an IPv4-only site', () => lab.siteA.ns],
  ])('every relay either host hands out relays from %s (turnkey check)', async (_, ns) => {
    expect(urls).toEqual([
      `https://${names.relay}:8080/v1/ice-servers`,
      `https://${names.cloud}:8080/v1/ice-servers`,
    ]);
    for (const url of urls) {
      const r = await lab.exec(
        ns(),
        [
          process.execPath,
          bundle('cli/main.ts'),
          'check',
          '--url',
          `${url}?relays=all`,
          '--timeout',
          '3000',
          '--ca',
          caFile,
          '--json',
        ],
        { env: { TURNKEY_API_TOKEN: token }, timeoutMs: 90_000 },
      );
      const report = JSON.parse(r.stdout || '{}') as CheckReport;
      const turn = report.results?.filter((x) => x.scheme !== 'stun') ?? [];
      // Both regions' relays, by name, each over UDP, TCP and TLS.
      expect(
        turn.map((x) => /^turns?:([^:]+):/.exec(x.uri)?.[1]).sort(),
        `${url}: ${r.stdout}${r.stderr}`,
      ).toEqual([...Array(3).fill(names.relay), ...Array(3).fill(names.cloud)].sort());
      expect(
        turn.map((x) => [x.uri, x.outcome, x.relayedFamily]),
        r.stdout,
      ).toEqual(turn.map((x) => [x.uri, 'relayed', 'ipv4']));
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
  });
});
