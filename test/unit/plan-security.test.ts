import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type ContainerPlan,
  planDeployment,
  readStackConfig,
  StackConfigError,
  valuesSource,
} from '../../infra';
import { startTestService } from '../helpers/service';

const read = (values: Record<string, string>, secrets: string[] = []) =>
  readStackConfig(valuesSource(values, secrets));
const TLS = ['tlsCert', 'tlsKey'];
const HOST = { publicHost: 'turn.example.com' };

function plan(values: Record<string, string>, secrets: string[] = []) {
  const p = planDeployment(read({ ...HOST, ...values }, secrets), {
    stack: 'prod',
    projectRoot: '/repo',
  });
  const role = (r: string) => p.containers.find((c) => c.role === r) as ContainerPlan;
  return { plan: p, coturn: role('coturn'), service: role('service') };
}

function error(values: Record<string, string>, secrets: string[] = []): string {
  try {
    read({ ...HOST, ...values }, secrets);
  } catch (err) {
    expect(err).toBeInstanceOf(StackConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a StackConfigError');
}

describe('where the credential service listens (turnkey:serviceHost)', () => {
  it('without a certificate: loopback only, and iceServersUrl says so', () => {
    const { plan: p, service } = plan({});
    expect(service.env.HOST).toBe('127.0.0.1');
    expect(service.env.TLS_CERT_FILE).toBeUndefined();
    expect(p.outputs.iceServersUrl).toBe('http://127.0.0.1:8080/v1/ice-servers');
  });

  it('without a certificate: a private address when serviceHost names one', () => {
    for (const ip of ['10.0.0.5', '172.20.1.2', '192.168.1.10', '100.101.102.103', 'fd12::5']) {
      const { plan: p, service } = plan({ serviceHost: ip });
      expect(service.env.HOST).toBe(ip);
      expect(p.outputs.iceServersUrl).toBe(
        `http://${ip.includes(':') ? `[${ip}]` : ip}:8080/v1/ice-servers`,
      );
    }
  });

  it('without a certificate: refuses a public or wildcard serviceHost, naming the fix', () => {
    for (const ip of ['0.0.0.0', '::', '203.0.113.7', '8.8.8.8', '2001:db8::1']) {
      expect(error({ serviceHost: ip })).toMatch(
        new RegExp(
          `^turnkey:serviceHost \\(${ip.replace(/\./g, '\\.')}\\) is not a loopback or private address, and without TLS .*: run \`pulumi config set turnkey:serviceHost 10\\.0\\.0\\.5\``,
        ),
      );
    }
    expect(error({ serviceHost: 'eth0' })).toMatch(/^turnkey:serviceHost must be one IP address/);
  });

  it('with a certificate: HTTPS on every interface (or serviceHost), iceServersUrl https on publicHost', () => {
    const { plan: p, service } = plan({}, TLS);
    expect(service.env).toMatchObject({
      HOST: '::',
      TLS_CERT_FILE: '/run/secrets/tls-cert.pem',
      TLS_KEY_FILE: '/run/secrets/tls-key.pem',
    });
    expect(p.outputs.iceServersUrl).toBe('https://turn.example.com:8080/v1/ice-servers');
    expect(plan({ serviceHost: '203.0.113.7' }, TLS).service.env.HOST).toBe('203.0.113.7');
  });
});

describe('the service healthcheck, run as Docker would run it', () => {
  // Asynchronously: the service answering it runs in this process.
  const run = (test: string[]) =>
    new Promise<number | null>((resolve) => {
      const child = spawn(test[1] as string, test.slice(2), { stdio: 'ignore', timeout: 15_000 });
      child.on('exit', (code) => resolve(code));
    });

  it('passes against the HTTPS service and fails where nothing listens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'turnkey-hc-'));
    const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    spawnSync('openssl', [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-days', '1', '-subj', '/CN=turn.example.com', '-keyout', key, '-out', cert],
    ]);
    const svc = await startTestService({ TLS_CERT_FILE: cert, TLS_KEY_FILE: key });
    try {
      const port = new URL(svc.url).port;
      const tls = plan({ listeningIps: '127.0.0.1', servicePort: port }, TLS).service;
      expect(tls.healthcheck.test[0]).toBe('CMD');
      expect(await run(tls.healthcheck.test)).toBe(0);
      // The plain-HTTP check against the same (HTTPS) port must not pass.
      expect(await run(plan({ servicePort: port }).service.healthcheck.test)).toBe(1);
    } finally {
      await svc.service.close();
      rmSync(dir, { recursive: true, force: true });
    }
    const idle = plan({ listeningIps: '127.0.0.1', servicePort: '1' }, TLS).service;
    expect(await run(idle.healthcheck.test)).toBe(1);
  });
});

describe('the metrics listener (turnkey:metricsHost, metricsPort)', () => {
  it('stays on the service default (127.0.0.1:9464) unless set, then goes to the env', () => {
    expect(plan({}).service.env.METRICS_HOST).toBeUndefined();
    expect(plan({ metricsHost: '10.0.0.5', metricsPort: '9100' }).service.env).toMatchObject({
      METRICS_HOST: '10.0.0.5',
      METRICS_PORT: '9100',
    });
  });

  it('refuses a public address (plain HTTP, no auth) and the API port', () => {
    expect(error({ metricsHost: '0.0.0.0' })).toMatch(
      /^turnkey:metricsHost \(0\.0\.0\.0\) is not a loopback or private address/,
    );
    expect(error({ metricsPort: '8080' })).toMatch(
      /^turnkey:metricsPort \(8080\) is the same port as turnkey:servicePort/,
    );
  });
});

describe('relay hardening from the stack', () => {
  it('no-new-privileges on the relay when all its ports are >= 1024, not when it binds 443', () => {
    expect(plan({}).coturn.securityOpts).toEqual(['no-new-privileges']);
    expect(plan({ tlsPort: '443' }, TLS).coturn.securityOpts).toEqual([]);
    expect(plan({ turnPort: '443' }).coturn.securityOpts).toEqual([]);
    // tlsPort only counts when TLS is on.
    expect(plan({ tlsPort: '443' }).coturn.securityOpts).toEqual(['no-new-privileges']);
    expect(plan({}).service.securityOpts).toEqual(['no-new-privileges']);
  });

  it('passes userQuota, totalQuota and maxBps to the relay, and nothing when unset', () => {
    expect(plan({}).coturn.env).not.toHaveProperty('TURN_USER_QUOTA');
    expect(
      plan({ userQuota: '30', totalQuota: '5000', maxBps: '1250000' }).coturn.env,
    ).toMatchObject({ TURN_USER_QUOTA: '30', TURN_TOTAL_QUOTA: '5000', TURN_MAX_BPS: '1250000' });
  });

  it.each([
    [{ userQuota: '0' }, /^turnkey:userQuota must be a whole number from 1 to 100000, got "0"/],
    [{ totalQuota: 'lots' }, /^turnkey:totalQuota must be a whole number from 1/],
    [{ maxBps: '500' }, /^turnkey:maxBps must be a whole number from 8000 to 1000000000/],
    [
      { userQuota: '50', totalQuota: '20' },
      /^turnkey:userQuota \(50\) is more than turnkey:totalQuota \(20\)/,
    ],
    [{ hashUserIds: 'yes' }, /^turnkey:hashUserIds must be true or false, got "yes"/],
  ])('%j is refused with the key and the fix', (values, message) => {
    const msg = error(values);
    expect(msg).toMatch(message);
    expect(msg).toMatch(/: run `pulumi config set turnkey:/);
  });

  it('hashUserIds reaches the service as TURN_HASH_USER_IDS', () => {
    expect(plan({ hashUserIds: 'true' }).service.env.TURN_HASH_USER_IDS).toBe('true');
    expect(plan({}).service.env).not.toHaveProperty('TURN_HASH_USER_IDS');
  });
});
