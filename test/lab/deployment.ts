import { randomBytes } from 'node:crypto';
import {
  type DeploymentPlan,
  planDeployment,
  type Role,
  readStackConfig,
  type SecretName,
} from '../../infra';
import type { IceServer } from '../../service/providers/types';
import standIns from '../docker/stand-ins.json';
import { DockerApi } from '../helpers/docker';
import { createVolumes, runContainer, waitHealthy } from '../helpers/realise';
import { REPO_ROOT, stackConfigValues, stackValuesSource } from '../helpers/stack';
import type { LabEngine } from './engine';
import type { Lab } from './lab';

/**
 * The deployment on a lab host's own Docker engine: the dev stack's plan changed only as a
 * production stack is (its public address, a TLS certificate, EXTERNAL_IP behind 1:1 NAT),
 * realised with the plan's exact containers through the host engine's socket.
 */

export const alnum = () =>
  randomBytes(36)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 40);

/**
 * The dev stack's `config:` with a production host's changes: `turnkey:listeningIps` dropped
 * (the dev stack's loopback pin; a production host listens on its addresses), public host
 * set, and the given overrides. Secret keys are only named: their values are the test's.
 */
export function productionValues(
  publicHost: string,
  overrides: Record<string, string> = {},
): Record<string, string> {
  const { 'turnkey:listeningIps': _dev, ...values } = stackConfigValues('dev');
  return {
    ...values,
    'turnkey:publicHost': publicHost,
    // No registry here: the local stand-ins, through the stack's own keys (never official tags).
    'turnkey:nodeImage': standIns.nodeImage,
    'turnkey:coturnImage': standIns.coturnImage,
    ...overrides,
  };
}

/** planDeployment of those values, as `pulumi up` computes it (secret keys set, values elsewhere). */
export function labPlan(
  stack: string,
  values: Record<string, string>,
  secretKeys: string[] = [],
): DeploymentPlan {
  return planDeployment(readStackConfig(stackValuesSource(values, secretKeys)), {
    stack,
    projectRoot: REPO_ROOT,
  });
}

/** Runs the plan's containers of these roles on the engine and waits for Docker's healthchecks. */
export async function realiseOn(
  engine: LabEngine,
  plan: DeploymentPlan,
  images: Partial<Record<Role, string>>,
  secrets: Partial<Record<SecretName, string>>,
): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  await createVolumes(engine.api, plan.volumes);
  for (const c of plan.containers) {
    ids[c.role] = await runContainer(engine.api, c, images[c.role] as string, { secrets });
  }
  for (const id of Object.values(ids)) await waitHealthy(engine.api, id);
  return ids;
}

/**
 * The app backend asks the credential service for ICE servers, as an app's server would:
 * from the backend host, over the lab network, with the API token. The token goes to curl on
 * its stdin (`-K -`), never on a command line.
 */
export async function backendIceServers(
  lab: Lab,
  url: string,
  token: string,
  caFile?: string,
): Promise<{ status: number; body: { iceServers: IceServer[]; ttl: number } }> {
  const trust = caFile === undefined ? [] : ['--cacert', caFile];
  const res = await lab.exec(
    lab.backend.ns,
    ['curl', '-sS', ...trust, '-K', '-', '-w', '\n%{http_code}', '--max-time', '10', url],
    { input: `header = "Authorization: Bearer ${token}"\n`, timeoutMs: 15_000 },
  );
  if (res.code !== 0) throw new Error(`curl from the backend to ${url}: ${res.stderr}`);
  const cut = res.stdout.lastIndexOf('\n');
  return {
    status: Number(res.stdout.slice(cut + 1)),
    body: JSON.parse(res.stdout.slice(0, cut)),
  };
}

export type RelayTransport = 'udp' | 'tcp' | 'tls';

/** The TURN entries restricted to one way of reaching the relay (the URIs decide it). */
export const onlyTransport = (servers: IceServer[], transport: RelayTransport): IceServer[] =>
  servers
    .filter((s) => s.username)
    .map((s) => ({
      ...s,
      urls: s.urls.filter((u) =>
        transport === 'tls'
          ? u.startsWith('turns:')
          : u.startsWith('turn:') && u.endsWith(`transport=${transport}`),
      ),
    }))
    .filter((s) => s.urls.length > 0);

/** Removes the images a run built on the machine's engine (the hosts' engines go with the lab). */
export async function removeMachineImages(refs: string[]): Promise<void> {
  const machine = new DockerApi();
  for (const ref of refs)
    await machine.call('DELETE', `/images/${encodeURIComponent(ref)}?force=true`).catch(() => {});
  await machine.close();
}

/** The host pid of a container's first process (turnserver, in the relay). */
export async function pidOf(engine: LabEngine, id: string): Promise<number> {
  const info = (await engine.api.call('GET', `/containers/${id}/json`)) as {
    State: { Pid: number };
  };
  return info.State.Pid;
}

/**
 * The SHA-256 fingerprint of the certificate a new TLS handshake at ip:port presents (asking
 * for `servername`, if given), seen from the backend host.
 */
export async function presentedCertificate(
  lab: Lab,
  ip: string,
  port: number,
  servername?: string,
): Promise<string> {
  const sni = servername ? ` -servername ${servername}` : '';
  const r = await lab.exec(
    lab.backend.ns,
    [
      'sh',
      '-c',
      `openssl s_client -connect ${ip}:${port}${sni} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256`,
    ],
    { timeoutMs: 10_000 },
  );
  return r.stdout.trim().replace(/^.*=/, '');
}
