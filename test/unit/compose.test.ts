import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { planDeployment, readStackConfig, valuesSource } from '../../infra';
import { composeMain } from '../../infra/compose/cli';
import { type ComposeDocument, composeDocument } from '../../infra/compose/document';
import type { DeploymentPlan } from '../../infra/plan/types';
import { REPO_ROOT, stackConfigValues } from '../helpers/stack';

/**
 * `turnkey compose` writes the plan `pulumi up` deploys as a compose.yaml: every field of every
 * container, read back from the YAML, is the plan's, and no secret is in the file.
 */

let cwd: string;
beforeEach(() => {
  cwd = mkdtempSync(join(tmpdir(), 'turnkey-compose-'));
});
afterEach(() => rmSync(cwd, { recursive: true, force: true }));

function compose(...args: string[]) {
  let out = '';
  let err = '';
  const code = composeMain(['compose', ...args], {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    cwd,
  });
  return { code, out, err, doc: code === 0 ? (parse(out) as ComposeDocument) : undefined };
}

const devValues = () =>
  Object.fromEntries(
    Object.entries(stackConfigValues('dev')).map(([k, v]) => [k.replace(/^turnkey:/, ''), v]),
  );
const planOf = (values: Record<string, string>, stack: string, secretKeys: string[] = []) =>
  planDeployment(readStackConfig(valuesSource(values, secretKeys)), {
    stack,
    projectRoot: REPO_ROOT,
  });

/** The plan's containers as Compose spells them: what the file must say, field by field. */
function expected(plan: DeploymentPlan) {
  return Object.fromEntries(
    plan.containers.map((c, i) => {
      const image = plan.images.find((im) => im.role === c.image);
      return [
        c.role,
        {
          image: image?.imageName,
          build: {
            context: `./.turnkey/images/${c.image}`,
            dockerfile: c.image === 'coturn' ? 'Dockerfile.coturn' : 'service/Dockerfile',
            ...(Object.keys(image?.buildArgs ?? {}).length ? { args: image?.buildArgs } : {}),
          },
          platform: image?.platform,
          container_name: c.name,
          network_mode: 'host',
          ...(c.user ? { user: c.user } : {}),
          environment: c.env,
          ...(c.files.length
            ? {
                secrets: c.files.map((f) => ({ source: f.secret, target: f.path })),
              }
            : {}),
          ...(c.volumes.length
            ? {
                volumes: c.volumes.map((v) => ({
                  type: 'volume',
                  source: v.volume,
                  target: v.path,
                  read_only: v.readOnly,
                })),
              }
            : {}),
          ...(Object.keys(c.tmpfs).length
            ? { tmpfs: Object.entries(c.tmpfs).map(([p, o]) => `${p}:${o}`) }
            : {}),
          cap_drop: c.capabilities.drop,
          cap_add: c.capabilities.add,
          security_opt: c.securityOpts,
          restart: c.restart,
          healthcheck: {
            test: c.healthcheck.test.map((t) => t.replaceAll('$', () => '$$')),
            interval: c.healthcheck.interval,
            timeout: c.healthcheck.timeout,
            start_period: c.healthcheck.startPeriod,
            retries: c.healthcheck.retries,
          },
          logging: { driver: c.logDriver, options: c.logOptions },
          stop_signal: c.stopSignal,
          stop_grace_period: `${c.stopGraceSeconds}s`,
          ...(i > 0 ? { depends_on: plan.containers.slice(0, i).map((b) => b.role) } : {}),
        },
      ];
    }),
  );
}

describe('turnkey compose --dev', () => {
  it('is the dev stack’s plan, field by field, in the order the plan creates the containers', () => {
    const r = compose('--dev');
    expect(r.code, r.err).toBe(0);
    const plan = planOf(devValues(), 'dev');
    expect(r.doc?.services).toEqual(expected(plan));
    expect(Object.keys(r.doc?.services ?? {})).toEqual(plan.containers.map((c) => c.role));
    expect(r.doc?.volumes).toEqual(
      Object.fromEntries(
        plan.volumes.map((v) => [
          v.name,
          { name: v.name, ...(v.driverOpts ? { driver_opts: v.driverOpts } : {}) },
        ]),
      ),
    );
    expect(r.doc?.secrets).toEqual({
      apiToken: { file: './.turnkey/secrets/apiToken' },
      turnSecret: { file: './.turnkey/secrets/turnSecret' },
    });
    expect(r.out).not.toMatch(/&\w+|\*\w+/); // no YAML anchors: each service reads whole
  });

  it('keeps generated secrets out of the file, in files only the user can reach, and keeps them on a re-run', () => {
    const first = compose('--dev');
    const secrets = join(cwd, '.turnkey/secrets');
    const token = readFileSync(join(secrets, 'apiToken'), 'utf8');
    const turn = readFileSync(join(secrets, 'turnSecret'), 'utf8');
    expect(token).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(turn).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(token).not.toBe(turn);
    for (const text of [first.out, first.err]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(turn);
    }
    expect(statSync(join(cwd, '.turnkey')).mode & 0o777).toBe(0o700);
    expect(statSync(secrets).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(cwd, '.turnkey/.gitignore'), 'utf8')).toBe('*\n');
    expect(first.err).toMatch(/generated now: apiToken, turnSecret/);

    const again = compose('--dev');
    expect(again.code).toBe(0);
    expect(readFileSync(join(secrets, 'apiToken'), 'utf8')).toBe(token);
    expect(again.err).not.toMatch(/generated now/);
    expect(again.out).toBe(first.out);
  });

  it('copies each image’s build context with the modes pulumi up builds with', () => {
    compose('--dev');
    const mode = (p: string) => statSync(join(cwd, '.turnkey/images', p)).mode & 0o777;
    expect(mode('coturn/entrypoint.sh')).toBe(0o755);
    expect(mode('coturn/turnserver.conf')).toBe(0o644);
    expect(mode('service/dist/bundle/main.js')).toBe(0o644);
    expect(readFileSync(join(cwd, '.turnkey/images/coturn/turnserver.conf'), 'utf8')).toBe(
      readFileSync(join(REPO_ROOT, 'coturn/turnserver.conf'), 'utf8'),
    );
  });

  it('takes stack keys with --set, checked as pulumi up checks them', () => {
    const r = compose('--dev', '--set', 'allowedPeerIps=10.20.0.0/16', '--stack', 'try');
    expect(r.code, r.err).toBe(0);
    expect(r.doc?.services.coturn?.environment.TURN_ALLOWED_PEER_IPS).toBe('10.20.0.0/16');
    expect(r.doc?.services.coturn?.container_name).toBe('turnkey-try-coturn');
  });

  it('escapes $ so Compose passes it through rather than reading a variable', () => {
    const plan = planOf({ publicHost: 'turn.example.com' }, 'compose', ['tlsCert', 'tlsKey']);
    const service = plan.containers.find((c) => c.role === 'service');
    if (!service) throw new Error('no service');
    // A literal `${X}` in a value, as Compose would read it.
    service.env.TURN_LABEL = 'team$HOME$' + '{X}';
    service.healthcheck.test = ['CMD-SHELL', 'test "$PORT" = 8080'];
    const doc = composeDocument(plan, {
      context: (role) => `./ctx/${role}`,
      secret: (name) => `./s/${name}`,
    });
    expect(doc.services.service?.environment.TURN_LABEL).toBe('team$$HOME$$' + '{X}');
    expect(doc.services.service?.healthcheck.test).toEqual(['CMD-SHELL', 'test "$$PORT" = 8080']);
  });
});

describe('turnkey compose: bad input', () => {
  it.each([
    [['--set', 'publicHost'], /--set takes key=value, got "publicHost"/],
    [['--set', 'tlsKey=abc'], /turnkey:tlsKey is a secret: write it to \.turnkey\/secrets\/tlsKey/],
    [[], /no publicHost: --dev for this machine, or --set publicHost=/],
    [['--dev', '--set', 'relays=[]'], /turnkey compose runs one host/],
    [['--dev', '--bogus'], /Unknown option '--bogus'/],
  ])('%j is refused with usage', (args, message) => {
    const r = compose(...(args as string[]));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
  });

  it('tells a stack-config problem the compose way (a --set, not pulumi config)', () => {
    const r = compose('--dev', '--set', 'allowedPeerIps=0.0.0.0/0');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /^turnkey compose: turnkey:allowedPeerIps entry 0\.0\.0\.0\/0 is not inside one private range/,
    );
    expect(r.err).toMatch(/run `--set allowedPeerIps=10\.20\.0\.0\/16`$/);
    expect(r.err).not.toMatch(/pulumi config/);
  });

  it('names the file a supplied secret goes in when the deployment needs it', () => {
    mkdirSync(join(cwd, '.turnkey/secrets'), { recursive: true });
    writeFileSync(join(cwd, '.turnkey/secrets/tlsCert'), 'PEM');
    const r = compose('--set', 'publicHost=turn.example.com');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/turnkey:tlsKey/);
    expect(r.err).toMatch(/write it to \.turnkey\/secrets\/tlsKey/);
  });
});
