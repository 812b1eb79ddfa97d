import { type ChildProcess, execFile, spawn as spawnChild } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The lab: Linux network namespaces shaped like production (an "internet", a relay host with a
 * public address, a cloud host behind 1:1 NAT, two IPv4-only client sites behind NAT routers,
 * one of them symmetric, an IPv6-only phone and a dual-stack home), with addresses the test
 * assigns and no way out to the machine's real network. 11.0.0.0/8 and 3ffe::/16 are the lab's
 * "public" ranges: outside the shipped deny list, and they exist only inside the lab (3ffe::/16
 * was the 6bone's, returned to IANA in 2006 and never routed since). Every veth is made inside a
 * lab namespace with its peer moved straight into another one (`ip -n A link add X type veth
 * peer name Y netns B`): nothing is ever created in the root namespace.
 */

export interface LabHost {
  ns: string;
  ip: string;
}

/** A host with a global IPv6 address too (`ip6`). */
export interface DualHost extends LabHost {
  ip6: string;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
  input?: string;
}

export interface Lab {
  prefix: string;
  /** Dual stack, both addresses its own. */
  relay: DualHost;
  /**
   * Behind 1:1 NAT in both families, as some clouds do IPv6 too: `ip`/`ip6` are the host's
   * private addresses (`ip6` unique-local), `publicIp`/`publicIp6` the edge's.
   */
  cloud: DualHost & { publicIp: string; publicIp6: string; edge: string };
  siteA: LabHost & { router: string; publicIp: string };
  siteB: LabHost & { router: string; publicIp: string };
  /**
   * A phone on an IPv6-only mobile network: a global address of its own (`ip`), no IPv4 at
   * all, and a carrier firewall that lets nothing unsolicited in.
   */
  phone: LabHost & { router: string };
  /**
   * A dual-stack home: IPv4 behind the router's NAT (`ip` private, `publicIp` the router's),
   * a global IPv6 address of its own (`ip6`) behind the router's outbound-only firewall.
   */
  home: DualHost & { router: string; publicIp: string };
  backend: DualHost;
  peer: DualHost;
  /**
   * A private network the relay host is on too (a VPC, an office LAN, a VPN): the relay at
   * `relayIp` on it and two clients, `a` and `b`; no route leads out of it or into it.
   */
  privateNet: { cidr: string; relayIp: string; a: LabHost; b: LabHost };
  /**
   * A public host for the lab's CA (`ip`, `ip6`) and DNS server (`dnsIp`, `dnsIp6`, second
   * addresses): test/lab/acme.ts.
   */
  ca: DualHost & { dnsIp: string; dnsIp6: string };
  /** The internet namespace (the bridge 11.0.0.0/24 and 3ffe:11::/64 lives here). */
  inet: string;
  /** Every namespace of this lab. */
  namespaces: string[];
  /** A directory for this lab's files; removed on destroy and by the stale cleanup. */
  dir: string;
  /**
   * Makes every lab host (relay, cloud, sites, backend, peer, ca) resolve names through
   * `nameservers` (`/etc/netns/<ns>/resolv.conf`, which `ip netns exec` mounts over
   * /etc/resolv.conf), for what exec and spawn start from now on; null undoes it. A host
   * without the first one's family moves on to the next at once (no route).
   */
  setResolver(nameservers: string | string[] | null): void;
  /** Runs argv in the namespace (`ip netns exec`), resolves when it exits. */
  exec(ns: string, argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Starts argv in the namespace; tracked, killed (SIGKILL) on destroy. */
  spawn(ns: string, argv: string[], opts?: { env?: Record<string, string> }): ChildProcess;
  /**
   * Kills every process in every lab namespace (`ip netns pids`), deletes the namespaces, their
   * /etc/netns directories and `dir`.
   */
  destroy(): Promise<void>;
}

const run = promisify(execFile);

/** Where each live lab records the pid of the process that owns it (for stale cleanup). */
const OWNERS = '/run/turnkey-lab';
/** Where the labs keep files (`<prefix>-files`), outside OWNERS, whose entries are pid files. */
const FILES = '/run/turnkey-lab-files';
/** iproute2's per-namespace /etc (`ip netns exec` bind-mounts each file in it over /etc's). */
const NETNS_ETC = '/etc/netns';

export const envPrefix = (): string => process.env.TURNKEY_LAB_PREFIX ?? 'tk';

const INET_GW = '11.0.0.1';
const INET_GW6 = '3ffe:11::1';
/** The phone's and the home's IPv6 prefixes, their routers' WAN addresses and LAN gateways. */
const PHONE_NET6 = '3ffe:33::/64';
const PHONE_ROUTER6 = '3ffe:11::33';
const PHONE_GW6 = '3ffe:33::1';
const HOME_NET6 = '3ffe:34::/64';
const HOME_ROUTER6 = '3ffe:11::34';
const HOME_GW6 = '3ffe:34::1';
/** On the relay hosts, for refusal listeners: cloud metadata (the usual and Alibaba Cloud's), and a private address. */
const REFUSAL_ADDRS = ['169.254.169.254/32', '100.100.100.200/32', '10.99.0.1/24'];
/**
 * The same for IPv6, each a form a relay must refuse as a peer: AWS's IPv6 metadata address,
 * another unique-local one, a link-local one, and 10.99.0.1 written as NAT64 (64:ff9b::/96) and
 * as IPv4-translated (::ffff:0:0:0/96), as addresses of their own, so a packet a relay let
 * through to them would arrive. (The IPv4-mapped form, ::ffff:10.99.0.1, is 10.99.0.1 itself
 * to the kernel, and ::1 is on every `lo` already.)
 */
export const REFUSAL_ADDRS6 = [
  'fd00:ec2::254',
  'fd99::1',
  'fe80::99',
  '64:ff9b::a63:1',
  '::ffff:0:a63:1',
];

export function assertLabCapable(): void {
  if (process.getuid?.() !== 0)
    throw new Error('the lab needs root (network namespaces); run npm run test:lab as root');
  for (const tool of ['ip', 'nft']) {
    const found = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((dir) => {
      try {
        return readdirSync(dir).includes(tool);
      } catch {
        return false;
      }
    });
    if (!found)
      throw new Error(
        `the lab needs \`${tool}\` (Debian: iproute2, nftables); npm run test:lab installs them`,
      );
  }
}

async function ip(args: string[], input?: string): Promise<string> {
  const child = run('ip', args, { maxBuffer: 16 << 20 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  try {
    return (await child).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
  }
}

async function inNs(ns: string, argv: string[], input?: string): Promise<string> {
  return ip(['netns', 'exec', ns, ...argv], input);
}

async function listNamespaces(): Promise<string[]> {
  const out = await ip(['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

async function killNamespace(ns: string): Promise<void> {
  // Kill until none are left: a dying parent can still fork.
  for (let round = 0; round < 50; round++) {
    let pids: number[] = [];
    try {
      pids = (await ip(['netns', 'pids', ns])).split('\n').filter(Boolean).map(Number);
    } catch {
      return;
    }
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await ip(['netns', 'del', ns]).catch(() => {});
}

const entries = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

/**
 * Deletes every namespace whose name starts with `prefix` (default: the env prefix), killing
 * its processes, with their /etc/netns directories and the labs' files (Lab.dir).
 */
export async function cleanupLabs(prefix: string = envPrefix()): Promise<void> {
  const doomed = (await listNamespaces()).filter((ns) => ns.startsWith(prefix));
  await Promise.all(doomed.map(killNamespace));
  // After the kill: nothing started in the namespace can still be using them.
  for (const dir of [NETNS_ETC, FILES])
    for (const f of entries(dir))
      if (f.startsWith(prefix)) rmSync(join(dir, f), { recursive: true, force: true });
  for (const f of entries(OWNERS))
    if (f.startsWith(prefix)) rmSync(join(OWNERS, f), { force: true });
}

/** Labs under the env prefix whose owner is gone (a killed run): removed before a new lab. */
async function cleanupStale(own: string): Promise<void> {
  // A run killed in the middle of destroy can leave a lab's files without its namespaces.
  const labs = new Set(
    [...(await listNamespaces()), ...entries(NETNS_ETC), ...entries(FILES)]
      .filter((name) => name.startsWith(envPrefix()) && name.includes('-'))
      .map((name) => name.slice(0, name.lastIndexOf('-'))),
  );
  for (const lab of labs) {
    let owner = 0;
    try {
      owner = Number(readFileSync(join(OWNERS, lab), 'utf8'));
    } catch {}
    if (lab === own || !owner || !pidAlive(owner)) await cleanupLabs(`${lab}-`);
  }
}

interface Link {
  /** Namespace and interface name of each end. */
  a: [string, string];
  b: [string, string];
}

async function veth({ a, b }: Link): Promise<void> {
  await ip(['-n', a[0], 'link', 'add', a[1], 'type', 'veth', 'peer', 'name', b[1], 'netns', b[0]]);
}

async function up(ns: string, dev: string, ...addrs: string[]): Promise<void> {
  // IPv6 addresses usable at once: nothing else in the lab could hold them.
  for (const addr of addrs)
    await ip(['-n', ns, 'addr', 'add', addr, 'dev', dev, ...(addr.includes(':') ? ['nodad'] : [])]);
  await ip(['-n', ns, 'link', 'set', dev, 'up']);
}

/** Turns IPv4 and IPv6 forwarding on in a namespace (/proc/sys/net is per namespace; no procps needed). */
async function forwarding(ns: string): Promise<void> {
  await inNs(ns, [
    'sh',
    '-c',
    'echo 1 > /proc/sys/net/ipv4/ip_forward && echo 1 > /proc/sys/net/ipv6/conf/all/forwarding',
  ]);
}

/**
 * No duplicate address detection on the links made from now on: their link-local addresses
 * would otherwise stay tentative for a second or more, and the first packets of a test wait.
 */
async function noDad(ns: string): Promise<void> {
  await inNs(ns, [
    'sh',
    '-c',
    'echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad && echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad',
  ]);
}

async function nft(ns: string, rules: string): Promise<void> {
  await inNs(ns, ['nft', '-f', '-'], rules);
}

/** A NAT router's filter: LAN out, replies in, nothing unsolicited from the WAN. */
const routerRules = (masquerade: string) => `
table ip lab {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan" oifname "wan" accept
  }
  chain post {
    type nat hook postrouting priority srcnat;
    oifname "wan" ${masquerade}
  }
}
`;

/**
 * An IPv6 router's filter, as home routers and mobile carriers ship it: the LAN's global
 * addresses are routed, not translated, but only what the LAN started gets back in.
 */
const firewall6 = `
table ip6 lab6 {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan" oifname "wan" accept
  }
}
`;

export async function createLab(id: string): Promise<Lab> {
  assertLabCapable();
  if (!/^[a-z0-9]{1,4}$/.test(id))
    throw new Error(`lab id must be 1-4 lowercase letters or digits, got "${id}"`);
  const prefix = `${envPrefix()}${id}`;
  await cleanupStale(prefix);
  mkdirSync(OWNERS, { recursive: true });
  writeFileSync(join(OWNERS, prefix), String(process.pid));

  const ns = (name: string) => `${prefix}-${name}`;
  const inet = ns('inet');
  const lab = {
    prefix,
    inet,
    relay: { ns: ns('relay'), ip: '11.0.0.10', ip6: '3ffe:11::10' },
    cloud: {
      ns: ns('cloud'),
      ip: '10.0.1.10',
      ip6: 'fd00:1::10',
      publicIp: '11.0.0.20',
      publicIp6: '3ffe:11::20',
      edge: ns('edge'),
    },
    siteA: { ns: ns('sa'), ip: '192.168.1.10', router: ns('rta'), publicIp: '11.0.0.31' },
    siteB: { ns: ns('sb'), ip: '192.168.2.10', router: ns('rtb'), publicIp: '11.0.0.32' },
    phone: { ns: ns('ph'), ip: '3ffe:33::10', router: ns('rtc') },
    home: {
      ns: ns('hm'),
      ip: '192.168.4.10',
      ip6: '3ffe:34::10',
      router: ns('rtd'),
      publicIp: '11.0.0.34',
    },
    backend: { ns: ns('app'), ip: '11.0.0.40', ip6: '3ffe:11::40' },
    peer: { ns: ns('peer'), ip: '11.0.0.50', ip6: '3ffe:11::50' },
    ca: {
      ns: ns('ca'),
      ip: '11.0.0.14',
      ip6: '3ffe:11::14',
      dnsIp: '11.0.0.53',
      dnsIp6: '3ffe:11::53',
    },
    privateNet: {
      cidr: '10.20.0.0/24',
      relayIp: '10.20.0.10',
      a: { ns: ns('pna'), ip: '10.20.0.21' },
      b: { ns: ns('pnb'), ip: '10.20.0.22' },
    },
  };
  const namespaces = [
    inet,
    lab.relay.ns,
    lab.cloud.ns,
    lab.cloud.edge,
    lab.siteA.ns,
    lab.siteA.router,
    lab.siteB.ns,
    lab.siteB.router,
    lab.phone.ns,
    lab.phone.router,
    lab.home.ns,
    lab.home.router,
    lab.backend.ns,
    lab.peer.ns,
    lab.ca.ns,
    lab.privateNet.a.ns,
    lab.privateNet.b.ns,
  ];
  const hosts = [
    lab.relay.ns,
    lab.cloud.ns,
    lab.siteA.ns,
    lab.siteB.ns,
    lab.phone.ns,
    lab.home.ns,
    lab.backend.ns,
    lab.peer.ns,
    lab.ca.ns,
  ];
  const dir = join(FILES, `${prefix}-files`);
  const children = new Set<ChildProcess>();
  let destroyed = false;
  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await cleanupLabs(`${prefix}-`);
  };

  try {
    mkdirSync(dir, { recursive: true });
    for (const n of namespaces) {
      await ip(['netns', 'add', n]);
      await noDad(n);
      await up(n, 'lo');
    }
    // The internet: one bridge; its addresses are every public host's default gateways, and
    // the internet namespace itself routes nowhere else (no default route).
    await ip(['-n', inet, 'link', 'add', 'br0', 'type', 'bridge']);
    await up(inet, 'br0', `${INET_GW}/24`, `${INET_GW6}/64`);
    await forwarding(inet);
    const attach = async (
      port: string,
      host: string,
      dev: string,
      addrs: { v4?: string; v6?: string },
    ) => {
      await veth({ a: [inet, port], b: [host, dev] });
      await ip(['-n', inet, 'link', 'set', port, 'master', 'br0']);
      await up(inet, port);
      await up(
        host,
        dev,
        ...(addrs.v4 ? [`${addrs.v4}/24`] : []),
        ...(addrs.v6 ? [`${addrs.v6}/64`] : []),
      );
      if (addrs.v4) await ip(['-n', host, 'route', 'add', 'default', 'via', INET_GW]);
      if (addrs.v6) await ip(['-n', host, '-6', 'route', 'add', 'default', 'via', INET_GW6]);
    };
    await attach('relay', lab.relay.ns, 'eth0', { v4: lab.relay.ip, v6: lab.relay.ip6 });
    await attach('edge', lab.cloud.edge, 'wan', {
      v4: lab.cloud.publicIp,
      v6: lab.cloud.publicIp6,
    });
    await attach('rta', lab.siteA.router, 'wan', { v4: lab.siteA.publicIp });
    await attach('rtb', lab.siteB.router, 'wan', { v4: lab.siteB.publicIp });
    await attach('rtc', lab.phone.router, 'wan', { v6: PHONE_ROUTER6 });
    await attach('rtd', lab.home.router, 'wan', { v4: lab.home.publicIp, v6: HOME_ROUTER6 });
    await attach('app', lab.backend.ns, 'eth0', { v4: lab.backend.ip, v6: lab.backend.ip6 });
    await attach('peer', lab.peer.ns, 'eth0', { v4: lab.peer.ip, v6: lab.peer.ip6 });
    await attach('ca', lab.ca.ns, 'eth0', { v4: lab.ca.ip, v6: lab.ca.ip6 });
    await ip(['-n', lab.ca.ns, 'addr', 'add', `${lab.ca.dnsIp}/24`, 'dev', 'eth0']);
    await ip(['-n', lab.ca.ns, 'addr', 'add', `${lab.ca.dnsIp6}/64`, 'dev', 'eth0', 'nodad']);
    // The sites' IPv6 prefixes are routed to their routers, as an ISP routes a customer's.
    await ip(['-n', inet, '-6', 'route', 'add', PHONE_NET6, 'via', PHONE_ROUTER6]);
    await ip(['-n', inet, '-6', 'route', 'add', HOME_NET6, 'via', HOME_ROUTER6]);

    // Addresses on the relay and cloud hosts that only refusal listeners use: the cloud
    // metadata address and a private one. On `lo` (this kernel may lack the dummy driver), which also keeps
    // them out of the relay addresses turnserver discovers (it skips loopback interfaces).
    for (const host of [lab.relay.ns, lab.cloud.ns]) {
      for (const addr of REFUSAL_ADDRS) await ip(['-n', host, 'addr', 'add', addr, 'dev', 'lo']);
      for (const addr of REFUSAL_ADDRS6)
        await ip(['-n', host, 'addr', 'add', `${addr}/128`, 'dev', 'lo', 'nodad']);
    }

    // The private network: a bridge on the relay host (its second interface), one port per
    // client. The clients have no default route and the internet none to them: they reach
    // the relay's private address and each other, nothing else.
    await ip(['-n', lab.relay.ns, 'link', 'add', 'pn0', 'type', 'bridge']);
    await up(lab.relay.ns, 'pn0', `${lab.privateNet.relayIp}/24`);
    for (const [port, client] of [
      ['pna', lab.privateNet.a],
      ['pnb', lab.privateNet.b],
    ] as const) {
      await veth({ a: [lab.relay.ns, port], b: [client.ns, 'eth0'] });
      await ip(['-n', lab.relay.ns, 'link', 'set', port, 'master', 'pn0']);
      await up(lab.relay.ns, port);
      await up(client.ns, 'eth0', `${client.ip}/24`);
    }

    // A segment behind a router / edge: the host's default routes point at it.
    const lan = async (
      router: string,
      host: string,
      v4: { gw: string; addr: string } | null,
      v6: { gw: string; addr: string } | null,
      rules: string,
    ) => {
      await veth({ a: [router, 'lan'], b: [host, 'eth0'] });
      await up(router, 'lan', ...(v4 ? [`${v4.gw}/24`] : []), ...(v6 ? [`${v6.gw}/64`] : []));
      await up(host, 'eth0', ...(v4 ? [`${v4.addr}/24`] : []), ...(v6 ? [`${v6.addr}/64`] : []));
      if (v4) await ip(['-n', host, 'route', 'add', 'default', 'via', v4.gw]);
      if (v6) await ip(['-n', host, '-6', 'route', 'add', 'default', 'via', v6.gw]);
      await forwarding(router);
      await nft(router, rules);
    };
    // 1:1 NAT, as clouds do it: the public address is the edge's, all of it forwarded to the
    // host's private address, and the host's traffic leaves from the public one (also when it
    // hairpins back to its own public address). IPv6 the same way, to a unique-local address,
    // as clouds that NAT IPv6 do.
    await lan(
      lab.cloud.edge,
      lab.cloud.ns,
      { gw: '10.0.1.1', addr: lab.cloud.ip },
      { gw: 'fd00:1::1', addr: lab.cloud.ip6 },
      `
table ip lab {
  chain pre {
    type nat hook prerouting priority dstnat;
    ip daddr ${lab.cloud.publicIp} dnat to ${lab.cloud.ip}
  }
  chain post {
    type nat hook postrouting priority srcnat;
    ip saddr ${lab.cloud.ip} snat to ${lab.cloud.publicIp}
  }
}
table ip6 lab6 {
  chain pre {
    type nat hook prerouting priority dstnat;
    ip6 daddr ${lab.cloud.publicIp6} dnat to ${lab.cloud.ip6}
  }
  chain post {
    type nat hook postrouting priority srcnat;
    ip6 saddr ${lab.cloud.ip6} snat to ${lab.cloud.publicIp6}
  }
}
`,
    );
    // Site A: a home router keeping source ports where it can (endpoint-independent mapping).
    await lan(
      lab.siteA.router,
      lab.siteA.ns,
      { gw: '192.168.1.1', addr: lab.siteA.ip },
      null,
      routerRules('masquerade'),
    );
    // Site B: symmetric NAT, a fresh random port for each destination.
    await lan(
      lab.siteB.router,
      lab.siteB.ns,
      { gw: '192.168.2.1', addr: lab.siteB.ip },
      null,
      routerRules('masquerade random,fully-random'),
    );
    // The phone: IPv6 only, behind the carrier's stateful firewall.
    await lan(
      lab.phone.router,
      lab.phone.ns,
      null,
      { gw: PHONE_GW6, addr: lab.phone.ip },
      firewall6,
    );
    // The home: IPv4 NAT and an IPv6 prefix behind the same router's firewall.
    await lan(
      lab.home.router,
      lab.home.ns,
      { gw: '192.168.4.1', addr: lab.home.ip },
      { gw: HOME_GW6, addr: lab.home.ip6 },
      routerRules('masquerade') + firewall6,
    );
  } catch (err) {
    await destroy();
    throw err;
  }

  return {
    ...lab,
    namespaces,
    dir,
    setResolver(nameservers) {
      for (const n of hosts) {
        if (nameservers === null) rmSync(join(NETNS_ETC, n), { recursive: true, force: true });
        else {
          mkdirSync(join(NETNS_ETC, n), { recursive: true });
          const lines = [nameservers].flat().map((a) => `nameserver ${a}\n`);
          // A resolver that is down should fail a lookup in 2 s, not glibc's 10 s.
          writeFileSync(
            join(NETNS_ETC, n, 'resolv.conf'),
            `${lines.join('')}options timeout:1 attempts:2\n`,
          );
        }
      }
    },
    exec(n, argv, opts = {}) {
      return new Promise((resolve) => {
        const child = spawnChild('ip', ['netns', 'exec', n, ...argv], {
          env: { ...process.env, ...opts.env },
          stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout?.on('data', (d) => {
          stdout += d;
        });
        child.stderr?.on('data', (d) => {
          stderr += d;
        });
        if (child.stdin) {
          // A command that exits without reading its input must not fail the run with EPIPE.
          child.stdin.on('error', () => {});
          child.stdin.end(opts.input);
        }
        const timer = opts.timeoutMs
          ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs)
          : undefined;
        child.on('error', (err) => {
          stderr += String(err);
        });
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
    },
    spawn(n, argv, opts = {}) {
      const child = spawnChild('ip', ['netns', 'exec', n, ...argv], {
        env: { ...process.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.add(child);
      child.on('exit', () => children.delete(child));
      return child;
    },
    destroy,
  };
}
