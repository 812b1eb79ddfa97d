import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DockerApi, dockerCli } from '../helpers/docker';

const exec = promisify(execFile);

/**
 * A Docker engine of a lab host's own: `dockerd` in that host's network namespace, with its
 * own data root, exec root, socket and cgroup parent, so host-network containers live on the
 * lab host's addresses. The test reaches it only through its socket, as `docker:host` would
 * reach a remote engine. No bridge, no iptables rules, no IP forwarding (the lab host is a
 * host, not a router), and no registry: images come from the machine's engine by save | load.
 *
 * `nsenter --net` and not `ip netns exec`: the latter also remounts /sys for the namespace,
 * which hides the cgroup hierarchy dockerd needs to run containers.
 */

/** Exec roots hold unix sockets (≤ 108 bytes), so they stay short and in /run. */
const EXEC_BASE = '/run/turnkey-engine';
const DATA_BASE = '/var/lib/turnkey-engine';

export interface LabEngine {
  ns: string;
  /** `unix://…`: what DOCKER_HOST (or the provider's docker:host) would be. */
  host: string;
  api: DockerApi;
  /** The Docker CLI against this engine. */
  cli(args: string[]): Promise<string>;
  /** Copies images from the machine's engine (docker save | docker load; there is no registry). */
  loadImages(refs: string[]): Promise<void>;
  /** Removes every container, stops dockerd and deletes its roots. */
  stop(): Promise<void>;
}

const roots = (ns: string) => ({ exec: join(EXEC_BASE, ns), data: join(DATA_BASE, ns) });
const cgroupParent = (ns: string) => `turnkey-lab-${ns}`;

export async function startLabEngine(ns: string, timeoutMs = 60_000): Promise<LabEngine> {
  if (!existsSync(`/var/run/netns/${ns}`))
    throw new Error(`no network namespace ${ns}: create the lab first (createLab)`);
  await cleanupLabEngines(ns);
  const dirs = roots(ns);
  mkdirSync(dirs.exec, { recursive: true, mode: 0o700 });
  mkdirSync(dirs.data, { recursive: true, mode: 0o700 });
  // An empty config of its own, so a daemon.json on the machine changes nothing here.
  const configFile = join(dirs.exec, 'daemon.json');
  writeFileSync(configFile, '{}\n');
  const socket = join(dirs.exec, 'docker.sock');
  const log = openSync(join(dirs.data, 'dockerd.log'), 'a');
  const daemon: ChildProcess = spawn(
    'nsenter',
    [
      `--net=/var/run/netns/${ns}`,
      '--',
      'dockerd',
      `--config-file=${configFile}`,
      `--data-root=${dirs.data}/root`,
      `--exec-root=${dirs.exec}/exec`,
      `--pidfile=${dirs.exec}/dockerd.pid`,
      `--host=unix://${socket}`,
      `--cgroup-parent=${cgroupParent(ns)}`,
      '--bridge=none',
      '--iptables=false',
      '--ip6tables=false',
      '--ip-forward=false',
      '--ip-masq=false',
      '--userland-proxy=false',
      '--log-level=warn',
    ],
    { stdio: ['ignore', log, log], detached: true },
  );
  daemon.unref();
  const engine = makeEngine(ns, socket);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (daemon.exitCode !== null) {
      const tail = readFileSync(join(dirs.data, 'dockerd.log'), 'utf8').split('\n').slice(-15);
      await cleanupLabEngines(ns);
      throw new Error(`dockerd in ${ns} exited (${daemon.exitCode}):\n${tail.join('\n')}`);
    }
    if (
      existsSync(socket) &&
      (await engine.api.call('GET', '/version').then(
        () => true,
        () => false,
      ))
    )
      return engine;
    if (Date.now() > deadline) {
      await engine.stop();
      throw new Error(`dockerd in ${ns} did not answer on ${socket} within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

function makeEngine(ns: string, socket: string): LabEngine {
  const host = `unix://${socket}`;
  const api = new DockerApi(socket);
  const cli = (args: string[]) => dockerCli(args, { DOCKER_HOST: host });
  return {
    ns,
    host,
    api,
    cli,
    async loadImages(refs) {
      // One pipe, no temp file: `docker save` on the machine's engine into this engine's load.
      const cmd = `docker save ${refs.map((r) => `'${r}'`).join(' ')} | DOCKER_HOST='${host}' docker load -q`;
      await exec('bash', ['-o', 'pipefail', '-c', cmd], { maxBuffer: 16 * 1024 * 1024 }).catch(
        (err: { stderr?: string; message: string }) => {
          throw new Error(`loading ${refs.join(', ')} into ${ns}: ${err.stderr || err.message}`);
        },
      );
    },
    async stop() {
      await api.close().catch(() => {});
      await cleanupLabEngines(ns);
    },
  };
}

/** Processes whose command line or cgroup names one of this engine's roots or its cgroup. */
function engineProcesses(ns: string): number[] {
  const dirs = roots(ns);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const cgroup = readFileSync(`/proc/${entry}/cgroup`, 'utf8');
      if (
        cmdline.includes(`${dirs.exec}/`) ||
        cmdline.includes(`${dirs.data}/`) ||
        cgroup.includes(`/${cgroupParent(ns)}/`)
      )
        pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function stopOne(ns: string): Promise<void> {
  const dirs = roots(ns);
  const socket = join(dirs.exec, 'docker.sock');
  if (existsSync(socket)) {
    // Containers first, through the engine itself, so it unmounts and forgets them cleanly.
    const api = new DockerApi(socket);
    try {
      const list = (await api.call('GET', '/containers/json?all=true')) as unknown as {
        Id: string;
      }[];
      for (const c of list)
        await api.call('DELETE', `/containers/${c.Id}?force=true&v=true`).catch(() => {});
    } catch {
      // a dead daemon: its processes are killed below
    } finally {
      await api.close().catch(() => {});
    }
  }
  const pidFile = join(dirs.exec, 'dockerd.pid');
  const daemonPid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0;
  if (daemonPid > 0 && alive(daemonPid)) {
    process.kill(daemonPid, 'SIGTERM');
    const deadline = Date.now() + 15_000;
    while (alive(daemonPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  }
  // Whatever is left (a daemon that hung, containerd, shims, container processes): SIGKILL.
  for (let round = 0; round < 20; round++) {
    const left = engineProcesses(ns);
    if (left.length === 0) break;
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // Mounts under the roots (overlay layers, shm, the exec root's netns files), deepest first.
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${dirs.exec}/`) || m.startsWith(`${dirs.data}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await exec('umount', ['-l', m]).catch(() => {});
  rmSync(dirs.exec, { recursive: true, force: true });
  rmSync(dirs.data, { recursive: true, force: true });
  await removeCgroups(cgroupParent(ns));
}

/** cgroupfs (v1 per controller, or v2 unified) directories dockerd made under its parent. */
async function removeCgroups(parent: string): Promise<void> {
  const base = '/sys/fs/cgroup';
  const candidates = [join(base, parent)];
  if (existsSync(base))
    for (const ctl of readdirSync(base)) candidates.push(join(base, ctl, parent));
  for (const dir of candidates) {
    if (!existsSync(dir)) continue;
    // rmdir bottom-up; cgroup directories cannot be removed recursively by rm.
    await exec('find', [dir, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']).catch(() => {});
  }
}

/**
 * Stops every lab engine whose namespace name starts with `prefix` (default: this machine's
 * lab prefix), also those a killed run left behind.
 */
export async function cleanupLabEngines(
  prefix = process.env.TURNKEY_LAB_PREFIX ?? 'tk',
): Promise<void> {
  const names = new Set<string>();
  for (const base of [EXEC_BASE, DATA_BASE])
    if (existsSync(base)) for (const n of readdirSync(base)) if (n.startsWith(prefix)) names.add(n);
  for (const ns of names) await stopOne(ns);
}
