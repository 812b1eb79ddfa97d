import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConfigSource, readStackConfig } from '../../infra/config';
import { type ContainerPlan, planDeployment } from '../../infra/deployment';
import type { CheckReport, UriResult } from '../../service/check/run';
import { collectOutput } from '../helpers/child-output';
import { type RunningCoturn, startCoturn } from '../helpers/coturn';
import { makeTestPki } from '../helpers/pki';
import { bundle } from '../helpers/process';
import { REPO_ROOT } from '../helpers/stack';
import { createLab, type Lab } from './lab';

/**
 * `turnkey check` against a deployment in the lab, from client sites behind NAT: the
 * Pulumi program's plan for a stack whose publicHost is the relay host's public address, the
 * shipped Coturn config and entrypoint unmodified (no allow-loopback-peers, no allowed-peer-ip),
 * and the credential service as a process on the same host. Then the faults operators hit:
 * a secret mismatch, a blocked port, a wrong external IP, a relay behind 1:1 NAT without one.
 *
 * The relay runs in the lab host's namespace through test/helpers/coturn.ts (`netns`), with the
 * plan's env. With coturn/turnserver.conf as of this commit, every case that needs data relayed
 * to a public IPv4 peer fails: its `denied-peer-ip=::-::ffff:ffff` matches every IPv4 address
 * in Coturn (see "the shipped deny list and public IPv4 peers" in test/coturn/turnserver.test.ts).
 */

type Host = 'relay' | 'cloud';
interface Deployment {
  iceServersUrl: string;
  token: string;
  coturn: RunningCoturn;
  stopService(): void;
  serviceOutput(): string;
  stop(): Promise<void>;
}

const byScheme = (report: CheckReport, uri: RegExp): UriResult => {
  const r = report.results.find((x) => uri.test(x.uri));
  if (!r) throw new Error(`no ${uri} in ${JSON.stringify(report.results.map((x) => x.uri))}`);
  return r;
};

describe('turnkey check in the lab', () => {
  let lab: Lab;
  let dir: string;
  let pki: ReturnType<typeof makeTestPki>;
  const secret = randomBytes(32).toString('hex');
  const checkCli = () => bundle('service/check/cli.ts');
  const serviceMain = () => bundle('service/main.ts');

  beforeAll(async () => {
    lab = await createLab('chk');
    dir = mkdtempSync(join(tmpdir(), 'turnkey-lab-check-'));
    pki = makeTestPki(dir, { ips: [lab.relay.ip] });
    checkCli();
    serviceMain();
  });
  afterAll(async () => {
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** What `pulumi up` would deploy for these turnkey:* values, run on a lab host. */
  async function deploy(
    host: Host,
    values: Record<string, string>,
    opts: { serviceSecret?: string; tls?: boolean } = {},
  ): Promise<Deployment> {
    const source: ConfigSource = {
      get: (key) => values[key],
      has: (key) => key in values || (opts.tls === true && (key === 'tlsCert' || key === 'tlsKey')),
    };
    const plan = planDeployment(readStackConfig(source), { stack: 'lab', projectRoot: REPO_ROOT });
    const container = (role: ContainerPlan['role']) =>
      plan.containers.find((c) => c.role === role) as ContainerPlan;
    const ns = lab[host].ns;

    // The relay container's env, with its secret files made by the test helper instead.
    const {
      TURN_SECRET_FILE,
      TURN_RUNTIME_DIR,
      TURN_TLS_CERT_FILE,
      TURN_TLS_KEY_FILE,
      ...relayEnv
    } = container('coturn').env;
    const coturn = await startCoturn({
      netns: ns,
      // The plan sets no listening or relay IPs (all interfaces); the helper's loopback
      // defaults must not apply.
      env: { ...relayEnv, TURN_LISTENING_IPS: '', TURN_RELAY_IPS: '' },
      files: {
        TURN_SECRET_FILE: secret,
        ...(opts.tls ? { TURN_TLS_CERT_FILE: pki.certPem, TURN_TLS_KEY_FILE: pki.keyPem } : {}),
      },
    });

    const token = randomBytes(32).toString('hex');
    const secrets = mkdtempSync(join(dir, 'svc-'));
    writeFileSync(join(secrets, 'turn-secret'), opts.serviceSecret ?? secret, { mode: 0o400 });
    writeFileSync(join(secrets, 'api-tokens'), token, { mode: 0o400 });
    const service = lab.spawn(ns, [process.execPath, serviceMain()], {
      env: {
        ...container('service').env,
        TURN_SECRET_FILE: join(secrets, 'turn-secret'),
        API_TOKENS_FILE: join(secrets, 'api-tokens'),
      },
    });
    const output = collectOutput(service);
    const deadline = Date.now() + 15_000;
    while (!output().includes('listening on')) {
      if (service.exitCode !== null || Date.now() > deadline) {
        await coturn.stop();
        throw new Error(`service did not start:\n${output()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const stopService = () => {
      if (service.exitCode === null) service.kill('SIGKILL');
    };
    return {
      iceServersUrl: plan.outputs.iceServersUrl,
      token,
      coturn,
      stopService,
      serviceOutput: output,
      stop: async () => {
        stopService();
        await coturn.stop();
      },
    };
  }

  /** Runs the bundled `turnkey check` in a lab namespace, the token in its environment. */
  async function check(ns: string, d: Deployment, extra: string[] = []) {
    const r = await lab.exec(
      ns,
      [
        process.execPath,
        checkCli(),
        'check',
        '--url',
        d.iceServersUrl,
        '--timeout',
        '2000',
        ...extra,
      ],
      { env: { TURNKEY_API_TOKEN: d.token }, timeoutMs: 90_000 },
    );
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  }
  const checkJson = async (ns: string, d: Deployment, extra: string[] = []) => {
    const r = await check(ns, d, ['--json', ...extra]);
    return { code: r.code, report: JSON.parse(r.stdout) as CheckReport, stderr: r.stderr };
  };
  /** /readyz of the service, asked on its own host. */
  const readyz = async (host: Host) => {
    const r = await lab.exec(lab[host].ns, [
      process.execPath,
      '-e',
      "fetch('http://127.0.0.1:8080/readyz').then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.json() })))",
    ]);
    return JSON.parse(r.stdout) as { status: number; body: { detail: string } };
  };

  const relayValues = { publicHost: '11.0.0.10', relayPorts: '31000-31099', credentialTtl: '3600' };

  it('passes from behind both NATs: every URI (STUN, TURN over UDP, TCP and TLS) relays', async () => {
    const d = await deploy('relay', relayValues, { tls: true });
    try {
      expect((await readyz('relay')).status).toBe(200);
      for (const site of [lab.siteA, lab.siteB]) {
        const { code, report, stderr } = await checkJson(site.ns, d, ['--ca', pki.caFile]);
        expect(stderr).toBe('');
        expect(report.results.map((r) => [r.uri, r.outcome])).toEqual([
          ['stun:11.0.0.10:3478', 'answered'],
          ['turn:11.0.0.10:3478?transport=udp', 'relayed'],
          ['turn:11.0.0.10:3478?transport=tcp', 'relayed'],
          ['turns:11.0.0.10:5349?transport=tcp', 'relayed'],
        ]);
        for (const r of report.results) {
          // Server-reflexive: the site's NAT router, as the relay saw it.
          expect(r.mapped?.address).toBe(site.publicIp);
          if (r.scheme === 'stun') continue;
          expect(r.relayed?.address).toBe(lab.relay.ip);
          expect(r.relayedElsewhere).toBe(false);
          expect(r.relayRttMs).toBeGreaterThanOrEqual(0);
          expect(r.outsideRttMs).toBeGreaterThanOrEqual(0);
          expect(Math.abs((r.credentialExpiresInS as number) - 3600)).toBeLessThanOrEqual(5);
        }
        expect(code).toBe(0);
      }
      const human = await check(lab.siteA.ns, d, ['--ca', pki.caFile]);
      expect(human.stdout).toMatch(
        /turn:11\.0\.0\.10:3478\?transport=udp\s+relayed\s+\d+\s+\d+\s+\d+\s+11\.0\.0\.10:\d+\s+11\.0\.0\.31:\d+/,
      );
      expect(human.stdout).toMatch(/OK: every URI works \(4\)/);
      expect(human.code).toBe(0);
      // The relay logged relayed traffic with the shipped config: no loopback or allow list.
      expect(d.coturn.log()).not.toMatch(/allow-loopback-peers|allowed-peer-ip/);
    } finally {
      await d.stop();
    }
  });

  it('diagnoses a secret mismatch, and /readyz says so too', async () => {
    const d = await deploy('relay', relayValues, {
      serviceSecret: randomBytes(32).toString('hex'),
    });
    try {
      const ready = await readyz('relay');
      expect(ready.status).toBe(503);
      expect(ready.body.detail).toMatch(/allocate refused \(401 Unauthorized\).*another secret/);
      const { code, report } = await checkJson(lab.siteA.ns, d);
      expect(code).toBe(1);
      expect(byScheme(report, /^stun:/).outcome).toBe('answered');
      for (const t of ['udp', 'tcp']) {
        const r = byScheme(report, new RegExp(`transport=${t}$`));
        expect(r.outcome).toBe('failed');
        expect(r.diagnosis?.problem).toBe('allocate refused (401 Unauthorized)');
        expect(r.diagnosis?.cause).toMatch(/another secret than the relay's static-auth-secret/);
      }
    } finally {
      await d.stop();
    }
  });

  it('diagnoses a blocked port (the relay host drops 3478) as firewall or port', async () => {
    const d = await deploy('relay', relayValues, { tls: true });
    const table = `${lab.prefix}block`;
    try {
      const nft = await lab.exec(lab.relay.ns, ['nft', '-f', '-'], {
        input: `table inet ${table} {
  chain input {
    type filter hook input priority 0;
    iifname "eth0" udp dport 3478 drop
    iifname "eth0" tcp dport 3478 drop
  }
}
`,
      });
      expect(nft.code).toBe(0);
      const { code, report } = await checkJson(lab.siteA.ns, d, ['--ca', pki.caFile]);
      expect(code).toBe(1);
      const udp = byScheme(report, /transport=udp$/);
      expect(udp.outcome).toBe('failed');
      expect(udp.diagnosis?.problem).toMatch(/no answer from 11\.0\.0\.10:3478\/udp/);
      expect(udp.diagnosis?.cause).toMatch(/firewall .* drops UDP port 3478/);
      const tcp = byScheme(report, /^turn:.*transport=tcp$/);
      expect(tcp.diagnosis?.problem).toMatch(/no connection to 11\.0\.0\.10:3478\/tcp/);
      expect(tcp.diagnosis?.cause).toMatch(/drops TCP port 3478/);
      expect(byScheme(report, /^stun:/).outcome).toBe('failed');
      // TLS on 5349 is not blocked: it still relays.
      expect(byScheme(report, /^turns:/).outcome).toBe('relayed');
    } finally {
      await lab.exec(lab.relay.ns, ['nft', 'delete', 'table', 'inet', table]);
      await d.stop();
    }
  });

  it('diagnoses a wrong external IP: allocations succeed, the relayed address is elsewhere, nothing arrives', async () => {
    const d = await deploy('relay', { ...relayValues, externalIp: '11.0.0.99' });
    try {
      const { code, report } = await checkJson(lab.siteA.ns, d);
      expect(code).toBe(1);
      for (const t of ['udp', 'tcp']) {
        const r = byScheme(report, new RegExp(`transport=${t}$`));
        expect(r.outcome).toBe('failed');
        expect(r.relayed?.address).toBe('11.0.0.99');
        expect(r.relayedElsewhere).toBe(true);
        // Between two of its own allocations Coturn maps its external IP back to its own
        // address, so only data from outside shows the fault.
        expect(r.relayRttMs).toBeGreaterThanOrEqual(0);
        expect(r.outsideRttMs).toBeUndefined();
        expect(r.diagnosis?.cause).toMatch(/wrong external IP/);
        expect(r.diagnosis?.fix).toMatch(/turnkey:externalIp \(EXTERNAL_IP\) to 11\.0\.0\.10/);
      }
      const human = await check(lab.siteA.ns, d);
      expect(human.stdout).toMatch(/11\.0\.0\.99:\d+ \(!\)/);
      expect(human.stdout).toMatch(
        /relayed address 11\.0\.0\.99 is not the URI's host 11\.0\.0\.10/,
      );
    } finally {
      await d.stop();
    }
  });

  it('behind 1:1 NAT: 403 peer denied without externalIp, passes with PUBLIC/PRIVATE', async () => {
    const cloud = {
      publicHost: lab.cloud.publicIp,
      relayPorts: '31000-31099',
      credentialTtl: '3600',
    };
    const without = await deploy('cloud', cloud);
    try {
      const { code, report } = await checkJson(lab.siteB.ns, without);
      expect(code).toBe(1);
      const udp = byScheme(report, /transport=udp$/);
      // The relay announces its private address, which its own deny list forbids as a peer.
      expect(udp.relayed?.address).toBe(lab.cloud.ip);
      expect(udp.diagnosis?.problem).toMatch(/permission refused \(403/);
      expect(udp.diagnosis?.fix).toMatch(/turnkey:externalIp/);
    } finally {
      await without.stop();
    }
    const mapped = await deploy('cloud', {
      ...cloud,
      externalIp: `${lab.cloud.publicIp}/${lab.cloud.ip}`,
    });
    try {
      const { code, report } = await checkJson(lab.siteB.ns, mapped);
      expect(report.results.map((r) => r.outcome)).toEqual(['answered', 'relayed', 'relayed']);
      expect(byScheme(report, /transport=udp$/).relayed?.address).toBe(lab.cloud.publicIp);
      expect(code).toBe(0);
    } finally {
      await mapped.stop();
    }
  });
});
