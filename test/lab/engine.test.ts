import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import standIns from '../docker/stand-ins.json';
import { dockerCli } from '../helpers/docker';
import { cleanupLabEngines, type LabEngine, startLabEngine } from './engine';
import { createLab, type Lab } from './lab';

/**
 * A lab host's own Docker engine: its host-network containers live on that host's lab
 * address (and nowhere else), and nothing of it (daemon, containers, mounts, roots, cgroups)
 * survives a stop or a killed run's cleanup.
 */

const IMAGE = standIns.nodeImage;
let lab: Lab;
let engine: LabEngine;

/** Every trace an engine of these namespaces could leave on the machine. */
function traces(prefix: string): string[] {
  const found: string[] = [];
  for (const base of ['/run/turnkey-engine', '/var/lib/turnkey-engine'])
    if (existsSync(base))
      for (const n of readdirSync(base)) if (n.startsWith(prefix)) found.push(`${base}/${n}`);
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n'))
    if (line.includes('turnkey-engine/')) found.push(`mount ${line.split(' ')[4]}`);
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      if (cmd.includes(`turnkey-engine/${prefix}`) || cgroup.includes(`turnkey-lab-${prefix}`))
        found.push(`process ${pid} ${cmd.replace(/\0/g, ' ').slice(0, 80)}`);
    } catch {
      // exited meanwhile
    }
  }
  for (const ctl of readdirSync('/sys/fs/cgroup'))
    for (const dir of existsSync(`/sys/fs/cgroup/${ctl}`) ? safeList(`/sys/fs/cgroup/${ctl}`) : [])
      if (dir.startsWith(`turnkey-lab-${prefix}`)) found.push(`cgroup ${ctl}/${dir}`);
  return found;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

beforeAll(async () => {
  lab = await createLab('eng');
  engine = await startLabEngine(lab.relay.ns);
  await engine.loadImages([IMAGE]);
}, 300_000);

afterAll(async () => {
  await engine?.stop();
  await lab?.destroy();
});

describe('a lab host Docker engine', () => {
  it('runs host-network containers on the lab host: reachable at its address from the internet side', async () => {
    const id = (
      await engine.cli([
        'run',
        '-d',
        '--network',
        'host',
        IMAGE,
        'node',
        '-e',
        `require('http').createServer((q, r) => r.end(require('os').hostname())).listen(8000, '${lab.relay.ip}')`,
      ])
    ).trim();
    let body = '';
    for (let i = 0; i < 50 && !body; i++) {
      const res = await lab.exec(lab.backend.ns, [
        'curl',
        '-s',
        '--max-time',
        '2',
        `http://${lab.relay.ip}:8000`,
      ]);
      body = res.stdout;
      if (!body) await new Promise((r) => setTimeout(r, 200));
    }
    // Binding the relay host's address worked, so the container is in that namespace.
    expect(body).not.toBe('');
    // The machine's own engine does not know it: a different daemon.
    expect((await dockerCli(['ps', '-aq', '--no-trunc', '--filter', `id=${id}`])).trim()).toBe('');
    await engine.cli(['rm', '-f', id]);
  });

  it('leaves nothing once stopped, and a killed run’s engine is cleaned at the next start', async () => {
    await engine.cli(['run', '-d', '--network', 'host', IMAGE, 'sleep', '600']);
    expect(traces(lab.relay.ns).length).toBeGreaterThan(0);
    // A run killed here leaves a detached dockerd with its container running: what the next
    // run's cleanup (createLab's caller, the global setup) meets.
    await cleanupLabEngines(lab.prefix);
    expect(traces(lab.prefix)).toEqual([]);
    engine = await startLabEngine(lab.relay.ns);
    await engine.stop();
    expect(traces(lab.prefix)).toEqual([]);
  });
});
