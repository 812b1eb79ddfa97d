import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupLabs, createLab, type Lab, REFUSAL_ADDRS6 } from './lab';
import { listenUdp, probeUdp } from './udp';

/** The lab's shape (test/lab/lab.ts): what every lab suite builds on. */

const rootLinks = () =>
  (
    JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as {
      ifname: string;
    }[]
  )
    .map((l) => l.ifname)
    .sort();
const namespaces = () =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
/** Whether pid is a live (not zombie) process. */
const alive = (pid: number | string) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
const json = async <T>(lab: Lab, ns: string, argv: string[]): Promise<T> =>
  JSON.parse((await lab.exec(ns, argv)).stdout || '[]') as T;

describe('the lab topology', () => {
  let lab: Lab;
  let linksBefore: string[];

  beforeAll(async () => {
    linksBefore = rootLinks();
    lab = await createLab('topo');
  });
  afterAll(async () => lab?.destroy());

  it('a site reaches the relay’s public address, seen from its router’s public address with its port kept', async () => {
    const listener = await listenUdp(lab, lab.relay.ns, lab.relay.ip, [4000]);
    const far = await listenUdp(lab, lab.peer.ns, lab.peer.ip, [4001]);
    try {
      const r = await probeUdp(lab, lab.siteA.ns, [`${lab.relay.ip}:4000`, `${lab.peer.ip}:4001`]);
      expect(r.replies).toHaveLength(2);
      for (const reply of r.replies) expect(reply.saw).toBe(`${lab.siteA.publicIp}:${r.local}`);
      expect(listener.received()).toEqual([
        { to: `${lab.relay.ip}:4000`, from: `${lab.siteA.publicIp}:${r.local}`, bytes: 5 },
      ]);
    } finally {
      listener.stop();
      far.stop();
    }
  });

  it('site B’s NAT is symmetric: two destinations see two different source ports', async () => {
    const a = await listenUdp(lab, lab.relay.ns, lab.relay.ip, [4002]);
    const b = await listenUdp(lab, lab.peer.ns, lab.peer.ip, [4003]);
    try {
      const r = await probeUdp(lab, lab.siteB.ns, [`${lab.relay.ip}:4002`, `${lab.peer.ip}:4003`]);
      expect(r.replies).toHaveLength(2);
      const seen = r.replies.map((x) => x.saw);
      for (const s of seen) expect(s.startsWith(`${lab.siteB.publicIp}:`)).toBe(true);
      expect(new Set(seen).size).toBe(2);
    } finally {
      a.stop();
      b.stop();
    }
  });

  it('nothing unsolicited gets through a site’s router', async () => {
    const inside = await listenUdp(lab, lab.siteA.ns, lab.siteA.ip, [4004]);
    try {
      const r = await probeUdp(lab, lab.peer.ns, [
        `${lab.siteA.publicIp}:4004`,
        `${lab.siteA.ip}:4004`,
      ]);
      expect(r.replies).toEqual([]);
      expect(inside.received()).toEqual([]);
    } finally {
      inside.stop();
    }
  });

  it('the cloud host is reachable at its public address, leaves from it, and hairpins to it', async () => {
    const onHost = await listenUdp(lab, lab.cloud.ns, lab.cloud.ip, [4005]);
    const far = await listenUdp(lab, lab.peer.ns, lab.peer.ip, [4006]);
    try {
      const inbound = await probeUdp(lab, lab.backend.ns, [`${lab.cloud.publicIp}:4005`]);
      expect(inbound.replies).toEqual([
        { from: `${lab.cloud.publicIp}:4005`, saw: `${lab.backend.ip}:${inbound.local}` },
      ]);
      const outbound = await probeUdp(lab, lab.cloud.ns, [`${lab.peer.ip}:4006`]);
      expect(outbound.replies[0]?.saw).toMatch(
        new RegExp(`^${lab.cloud.publicIp.replaceAll('.', '\\.')}:`),
      );
      const hairpin = await probeUdp(lab, lab.cloud.ns, [`${lab.cloud.publicIp}:4005`]);
      expect(hairpin.replies).toHaveLength(1);
      expect(onHost.received().map((d) => d.from.split(':')[0])).toEqual([
        lab.backend.ip,
        lab.cloud.publicIp,
      ]);
      // The private address is not on the internet.
      const direct = await probeUdp(lab, lab.backend.ns, [`${lab.cloud.ip}:4005`]);
      expect(direct.replies).toEqual([]);
    } finally {
      onHost.stop();
      far.stop();
    }
  });

  it('the phone has IPv6 only: it reaches the relay and the cloud host at their public IPv6 addresses, seen from its own, and has no IPv4 at all', async () => {
    const onRelay = await listenUdp(lab, lab.relay.ns, lab.relay.ip6, [4010]);
    const onCloud = await listenUdp(lab, lab.cloud.ns, lab.cloud.ip6, [4011]);
    try {
      const r = await probeUdp(lab, lab.phone.ns, [
        `[${lab.relay.ip6}]:4010`,
        `[${lab.cloud.publicIp6}]:4011`,
      ]);
      expect(r.replies).toEqual(
        expect.arrayContaining([
          { from: `[${lab.relay.ip6}]:4010`, saw: `[${lab.phone.ip}]:${r.local}` },
          { from: `[${lab.cloud.publicIp6}]:4011`, saw: `[${lab.phone.ip}]:${r.local}` },
        ]),
      );
      expect(r.replies).toHaveLength(2);
      // The cloud host saw the phone's own address: IPv6 is routed, not translated.
      expect(onCloud.received().map((d) => d.to)).toEqual([`[${lab.cloud.ip6}]:4011`]);
      const v4 = await lab.exec(lab.phone.ns, ['ip', '-4', 'route', 'get', lab.relay.ip]);
      expect(v4.code).not.toBe(0);
      expect(
        (await lab.exec(lab.phone.ns, ['ip', '-4', '-o', 'addr', 'show', 'scope', 'global']))
          .stdout,
      ).toBe('');
    } finally {
      onRelay.stop();
      onCloud.stop();
    }
  });

  it('the home is dual stack: IPv4 leaves through its router’s NAT, IPv6 from its own address', async () => {
    const v4 = await listenUdp(lab, lab.relay.ns, lab.relay.ip, [4012]);
    const v6 = await listenUdp(lab, lab.relay.ns, lab.relay.ip6, [4013]);
    try {
      const r4 = await probeUdp(lab, lab.home.ns, [`${lab.relay.ip}:4012`]);
      expect(r4.replies.map((x) => x.saw)).toEqual([`${lab.home.publicIp}:${r4.local}`]);
      const r6 = await probeUdp(lab, lab.home.ns, [`[${lab.relay.ip6}]:4013`]);
      expect(r6.replies.map((x) => x.saw)).toEqual([`[${lab.home.ip6}]:${r6.local}`]);
    } finally {
      v4.stop();
      v6.stop();
    }
  });

  it('nothing unsolicited reaches the phone or the home over IPv6: their routers let only replies in', async () => {
    const phone = await listenUdp(lab, lab.phone.ns, lab.phone.ip, [4014]);
    const home = await listenUdp(lab, lab.home.ns, lab.home.ip6, [4015]);
    try {
      const r = await probeUdp(lab, lab.peer.ns, [
        `[${lab.phone.ip}]:4014`,
        `[${lab.home.ip6}]:4015`,
      ]);
      expect(r.replies).toEqual([]);
      expect(phone.received()).toEqual([]);
      expect(home.received()).toEqual([]);
    } finally {
      phone.stop();
      home.stop();
    }
  });

  it('the cloud host over IPv6: reachable at its public address, leaves from it, hairpins to it; its unique-local address is not on the internet', async () => {
    const onHost = await listenUdp(lab, lab.cloud.ns, lab.cloud.ip6, [4016]);
    const far = await listenUdp(lab, lab.peer.ns, lab.peer.ip6, [4017]);
    try {
      const inbound = await probeUdp(lab, lab.backend.ns, [`[${lab.cloud.publicIp6}]:4016`]);
      expect(inbound.replies).toEqual([
        { from: `[${lab.cloud.publicIp6}]:4016`, saw: `[${lab.backend.ip6}]:${inbound.local}` },
      ]);
      const outbound = await probeUdp(lab, lab.cloud.ns, [`[${lab.peer.ip6}]:4017`]);
      expect(outbound.replies[0]?.saw).toBe(`[${lab.cloud.publicIp6}]:${outbound.local}`);
      const hairpin = await probeUdp(lab, lab.cloud.ns, [`[${lab.cloud.publicIp6}]:4016`]);
      expect(hairpin.replies).toHaveLength(1);
      expect(onHost.received().map((d) => d.from.replace(/:\d+$/, ''))).toEqual([
        `[${lab.backend.ip6}]`,
        `[${lab.cloud.publicIp6}]`,
      ]);
      const direct = await probeUdp(lab, lab.backend.ns, [`[${lab.cloud.ip6}]:4016`]);
      expect(direct.replies).toEqual([]);
    } finally {
      onHost.stop();
      far.stop();
    }
  });

  it('the private network: its clients reach the relay’s private address and each other, and nothing else reaches them', async () => {
    const { a, b, relayIp } = lab.privateNet;
    const onRelay = await listenUdp(lab, lab.relay.ns, relayIp, [4007]);
    const onB = await listenUdp(lab, b.ns, b.ip, [4008]);
    try {
      const r = await probeUdp(lab, a.ns, [`${relayIp}:4007`, `${b.ip}:4008`]);
      expect(r.replies).toHaveLength(2);
      expect(r.replies).toEqual(
        expect.arrayContaining([
          { from: `${relayIp}:4007`, saw: `${a.ip}:${r.local}` },
          { from: `${b.ip}:4008`, saw: `${a.ip}:${r.local}` },
        ]),
      );
      // Not from the internet (no route to 10.20.0.0/24 there), nor out of it (no route but
      // the segment's own).
      expect((await probeUdp(lab, lab.peer.ns, [`${b.ip}:4008`])).replies).toEqual([]);
      const routes = await lab.exec(a.ns, ['ip', 'route', 'get', lab.peer.ip]);
      expect(routes.code).not.toBe(0);
      expect(onB.received().map((d) => d.from)).toEqual([`${a.ip}:${r.local}`]);
    } finally {
      onRelay.stop();
      onB.stop();
    }
  });

  it('has no way out: nothing in the root namespace, every veth ends in the lab, no route leaves it', async () => {
    expect(rootLinks()).toEqual(linksBefore);
    const inLab = (net: string) =>
      [
        '11.0.0.0/24',
        '10.0.1.0/24',
        '10.20.0.0/24',
        '192.168.1.0/24',
        '192.168.2.0/24',
        '192.168.4.0/24',
        '10.99.0.0/24',
      ].includes(net);
    for (const ns of lab.namespaces) {
      const ids = await json<{ nsid: number; name?: string }[]>(lab, ns, [
        'ip',
        '-j',
        'netns',
        'list-id',
      ]);
      const veths = await json<{ ifname: string; link_netnsid?: number }[]>(lab, ns, [
        'ip',
        '-j',
        '-d',
        'link',
        'show',
        'type',
        'veth',
      ]);
      for (const v of veths) {
        const peer = ids.find((i) => i.nsid === v.link_netnsid)?.name;
        expect(lab.namespaces, `${ns} ${v.ifname}`).toContain(peer);
      }
      const routes = await json<{ dst: string; gateway?: string }[]>(lab, ns, [
        'ip',
        '-j',
        '-4',
        'route',
      ]);
      for (const r of routes) {
        if (r.dst === 'default')
          expect(r.gateway, ns).toMatch(/^(11\.0\.0\.1|10\.0\.1\.1|192\.168\.[124]\.1)$/);
        else expect(inLab(r.dst), `${ns}: ${r.dst}`).toBe(true);
      }
      const v6 = await json<{ dst: string; gateway?: string }[]>(lab, ns, [
        'ip',
        '-j',
        '-6',
        'route',
      ]);
      const inLab6 = [
        'fe80::/64',
        '::1',
        '3ffe:11::/64',
        '3ffe:33::/64',
        '3ffe:34::/64',
        'fd00:1::/64',
        ...REFUSAL_ADDRS6,
      ];
      for (const r of v6) {
        if (r.dst === 'default')
          expect(r.gateway, ns).toMatch(/^(3ffe:11::1|fd00:1::1|3ffe:33::1|3ffe:34::1)$/);
        else expect(inLab6, `${ns}: ${r.dst}`).toContain(r.dst);
      }
    }
    // The internet's own tables end at the bridge: anything else is unreachable.
    for (const far of ['1.1.1.1', '2001:4860:4860::8888']) {
      const out = await lab.exec(lab.inet, ['ip', 'route', 'get', far]);
      expect(out.code, far).not.toBe(0);
      expect(out.stderr).toMatch(/unreachable/i);
    }
  });
});

describe('lab cleanup', () => {
  it('destroy leaves no namespace and no process behind', async () => {
    const lab = await createLab('cln');
    const sleeper = lab.spawn(lab.peer.ns, ['sleep', '600']);
    const pid = sleeper.pid as number;
    await new Promise((r) => setTimeout(r, 100));
    expect(alive(pid)).toBe(true);
    await lab.destroy();
    expect(namespaces().filter((n) => n.startsWith(`${lab.prefix}-`))).toEqual([]);
    expect(alive(pid)).toBe(false);
  });

  it('a killed run’s leftovers (namespaces and their processes) go at the next createLab', async () => {
    const stale = `${process.env.TURNKEY_LAB_PREFIX ?? 'tk'}cln-inet`;
    execFileSync('ip', ['netns', 'add', stale]);
    const orphan = execFileSync(
      'ip',
      ['netns', 'exec', stale, 'sh', '-c', 'sleep 600 >/dev/null 2>&1 & echo $!'],
      {
        encoding: 'utf8',
      },
    ).trim();
    expect(alive(orphan)).toBe(true);
    const lab = await createLab('cln');
    try {
      expect(alive(orphan)).toBe(false);
      expect((await lab.exec(lab.inet, ['ip', '-j', 'addr', 'show', 'br0'])).stdout).toContain(
        '11.0.0.1',
      );
    } finally {
      await lab.destroy();
      await cleanupLabs(`${lab.prefix}-`);
    }
  });
});
