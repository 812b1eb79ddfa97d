import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainerPlan, planDeployment, readStackConfig, valuesSource } from '../../infra';
import type { CheckReport, UriResult } from '../../service/check/run';
import { COTURN_ROOT } from '../helpers/coturn';
import { bundle } from '../helpers/process';
import { REPO_ROOT } from '../helpers/stack';
import {
  cloudExternalIp,
  type LabCoturn,
  type LabCoturnOptions,
  type RelayHost,
  startLabCoturn,
} from './coturn';
import { createLab, type Lab } from './lab';
import { startLabService } from './service';

/**
 * `turnkey check` against a deployment in the lab, from client sites behind NAT: the
 * Pulumi program's plan for a stack whose publicHost is the relay host's public address, the
 * shipped Coturn config and entrypoint unmodified (no allow-loopback-peers, no allowed-peer-ip),
 * and the credential service as a process on the same host. Both serve TLS from a test CA, as
 * docs/deploying.md's production stack does (without a certificate the service would bind loopback
 * only, out of the NATed sites' reach). Then the faults operators hit: a secret mismatch, a
 * blocked port, a wrong external IP, a relay behind 1:1 NAT without one.

 * The relay is startLabCoturn's (the plan's Coturn container in the host's namespace).
 */

interface Deployment {
  iceServersUrl: string;
  token: string;
  /** The test CA that signed the relay's and the service's certificate (a host path). */
  caFile: string;
  coturn: LabCoturn;
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
  const checkCli = () => bundle('cli/main.ts');
  const serviceMain = () => bundle('service/main.ts');

  beforeAll(async () => {
    lab = await createLab('chk');
    dir = mkdtempSync(join(tmpdir(), 'turnkey-lab-check-'));
    checkCli();
    serviceMain();
  });
  afterAll(async () => {
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * The relay (startLabCoturn: the plan's Coturn container) and the credential service as
   * the plan's service container on the same host, sharing the relay's secret file unless
   * `serviceSecret` says otherwise.
   */
  async function deploy(
    host: RelayHost,
    opts: LabCoturnOptions & { serviceSecret?: string } = {},
  ): Promise<Deployment> {
    const coturn = await startLabCoturn(lab, host, { ...opts, tls: true });
    const pki = coturn.pki as NonNullable<LabCoturn['pki']>;
    const values: Record<string, string> = {
      publicHost: coturn.publicIp,
      ...(host === 'cloud' ? { externalIp: cloudExternalIp(lab) } : {}),
      ...opts.stack,
    };
    const config = readStackConfig(valuesSource(values));
    config.tls = true;
    const plan = planDeployment(config, { stack: 'lab', projectRoot: REPO_ROOT });
    const service = plan.containers.find((c) => c.role === 'service') as ContainerPlan;

    const token = randomBytes(32).toString('hex');
    const relaySecret = readFileSync(
      join(COTURN_ROOT, coturn.env.TURN_SECRET_FILE as string),
      'utf8',
    );
    const svc = await startLabService(lab, coturn, service.env, {
      dir,
      token,
      turnSecret: opts.serviceSecret ?? relaySecret,
    }).catch(async (err: unknown) => {
      await coturn.stop();
      throw err;
    });
    return {
      iceServersUrl: plan.outputs.iceServersUrl,
      token,
      caFile: pki.caFile,
      coturn,
      stop: async () => {
        svc.child.kill('SIGKILL');
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
        '--ca',
        d.caFile,
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
  const readyz = async (d: Deployment) => {
    const origin = new URL(d.iceServersUrl).origin;
    const r = await lab.exec(
      d.coturn.ns,
      [
        process.execPath,
        '-e',
        // The detail needs the token; from the environment, out of the process list.
        `fetch('${origin}/readyz', { headers: { authorization: 'Bearer ' + process.env.TURNKEY_API_TOKEN } }).then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.json() })))`,
      ],
      { env: { NODE_EXTRA_CA_CERTS: d.caFile, TURNKEY_API_TOKEN: d.token } },
    );
    return JSON.parse(r.stdout) as { status: number; body: { detail: string } };
  };

  it('passes from behind both NATs: every URI (STUN, TURN over UDP, TCP and TLS) relays', async () => {
    const d = await deploy('relay', { tls: true });
    try {
      expect((await readyz(d)).status).toBe(200);
      for (const site of [lab.siteA, lab.siteB]) {
        const { code, report, stderr } = await checkJson(site.ns, d);
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
          expect(
            Math.abs((r.credentialExpiresInS as number) - (report.ttl as number)),
          ).toBeLessThanOrEqual(5);
        }
        expect(code).toBe(0);
      }
      const human = await check(lab.siteA.ns, d);
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
    const d = await deploy('relay', { serviceSecret: randomBytes(32).toString('hex') });
    try {
      const ready = await readyz(d);
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
    const d = await deploy('relay', { tls: true });
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
      const { code, report } = await checkJson(lab.siteA.ns, d);
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
    // A stale public half: the host's address changed (or was mistyped), the private half is right.
    const d = await deploy('cloud', { stack: { externalIp: `11.0.0.99/${lab.cloud.ip}` } });
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
        expect(r.diagnosis?.fix).toMatch(
          /turnkey:externalIp \(EXTERNAL_IP\) to 11\.0\.0\.20\/<private IP>/,
        );
      }
      const human = await check(lab.siteA.ns, d);
      expect(human.stdout).toMatch(/11\.0\.0\.99:\d+ \(!\)/);
      expect(human.stdout).toMatch(
        /relayed address 11\.0\.0\.99 is not the URI's host 11\.0\.0\.20/,
      );
    } finally {
      await d.stop();
    }
  });

  it('behind 1:1 NAT: 403 peer denied without externalIp, passes with PUBLIC/PRIVATE', async () => {
    // The operator forgot turnkey:externalIp: the relay announces its private address.
    const without = await deploy('cloud', { env: { EXTERNAL_IP: '' } });
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
    const mapped = await deploy('cloud');
    try {
      const { code, report } = await checkJson(lab.siteB.ns, mapped);
      expect(report.results.map((r) => r.outcome)).toEqual([
        'answered',
        'relayed',
        'relayed',
        'relayed',
      ]);
      expect(byScheme(report, /transport=udp$/).relayed?.address).toBe(lab.cloud.publicIp);
      expect(code).toBe(0);
    } finally {
      await mapped.stop();
    }
  });

  it.each<RelayHost>(['relay', 'cloud'])(
    'passes from the IPv6-only phone against the %s host named by its IPv6 address: bracketed URIs, IPv4 relayed addresses, reachable from outside over IPv6',
    async (host) => {
      const publicIp6 = host === 'relay' ? lab.relay.ip6 : lab.cloud.publicIp6;
      const publicIp = host === 'relay' ? lab.relay.ip : lab.cloud.publicIp;
      const d = await deploy(host, { tls: true, stack: { publicHost: publicIp6 } });
      try {
        expect(d.iceServersUrl).toBe(`https://[${publicIp6}]:8080/v1/ice-servers`);
        const { code, report, stderr } = await checkJson(lab.phone.ns, d);
        expect(stderr).toBe('');
        expect(report.results.map((r) => [r.uri, r.outcome])).toEqual([
          [`stun:[${publicIp6}]:3478`, 'answered'],
          [`turn:[${publicIp6}]:3478?transport=udp`, 'relayed'],
          [`turn:[${publicIp6}]:3478?transport=tcp`, 'relayed'],
          [`turns:[${publicIp6}]:5349?transport=tcp`, 'relayed'],
        ]);
        for (const r of report.results) {
          // The phone's own address: IPv6 is routed, not translated.
          expect(r.mapped?.address).toBe(lab.phone.ip);
          if (r.scheme === 'stun') continue;
          // What a browser on the phone gets: an IPv4 relayed address, the host's public one.
          expect([r.relayed?.address, r.relayedFamily]).toEqual([publicIp, 'ipv4']);
          // The outside step went over IPv6, to an IPv6 relayed address: the host's public
          // one (the cloud's through its IPv6 pair in turnkey:externalIp).
          expect([r.outsideFamily, r.outsideRelayed?.address]).toEqual(['ipv6', publicIp6]);
          expect(r.outsideRttMs).toBeGreaterThanOrEqual(0);
        }
        expect(code).toBe(0);
      } finally {
        await d.stop();
      }
    },
  );

  it('flags a relay that hands a client on IPv6 an IPv6 relayed address when it asked for none: browsers there could not reach IPv4-only peers', async () => {
    const d = await deploy('relay', {
      tls: true,
      stack: { publicHost: lab.relay.ip6 },
      misconfig: ['allocation-default-address-family=keep'],
    });
    try {
      const { code, report } = await checkJson(lab.phone.ns, d);
      expect(code).toBe(1);
      for (const r of report.results.filter((x) => x.scheme !== 'stun')) {
        expect(r.outcome, r.uri).toBe('failed');
        expect(r.relayedFamily).toBe('ipv6');
        expect(r.diagnosis?.fix).toMatch(/allocation-default-address-family/);
      }
    } finally {
      await d.stop();
    }
  });
});
