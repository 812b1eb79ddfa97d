import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundle, type ServiceProcess, spawnService } from '../helpers/process';
import type { LabCoturn } from './coturn';
import type { Lab } from './lab';

/**
 * The credential service as the bundled process in a relay host's namespace, with the plan's
 * service environment (`env`) and its secrets as files under `dir`: the TURN secret, the API
 * token, and the relay's certificate to serve. The relay already has its own files
 * (startLabCoturn wrote them); the service's copies go where no relay reads them, so its
 * `turnSecret` may differ from the relay's.
 */
export function startLabService(
  lab: Lab,
  relay: LabCoturn,
  env: Record<string, string>,
  opts: { dir: string; turnSecret: string; token: string; extraEnv?: Record<string, string> },
): Promise<ServiceProcess> {
  const secrets = mkdtempSync(join(opts.dir, 'svc-'));
  writeFileSync(join(secrets, 'turn-secret'), opts.turnSecret, { mode: 0o400 });
  writeFileSync(join(secrets, 'api-tokens'), opts.token, { mode: 0o400 });
  const pki = relay.pki as NonNullable<LabCoturn['pki']>;
  return spawnService(
    {
      ...env,
      TURN_SECRET_FILE: join(secrets, 'turn-secret'),
      API_TOKENS_FILE: join(secrets, 'api-tokens'),
      TLS_CERT_FILE: pki.certFile,
      TLS_KEY_FILE: pki.keyFile,
      RELAY_SECRETS_DIR: mkdtempSync(join(opts.dir, 'relay-secrets-')),
      ...opts.extraEnv,
    },
    Number(env.PORT),
    {
      script: bundle('service/main.ts'),
      // Exactly the plan's env, in the relay host's namespace.
      spawn: ([node, ...args], e) => lab.spawn(relay.ns, [node as string, ...args], { env: e }),
    },
  );
}
