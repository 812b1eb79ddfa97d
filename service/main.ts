import { SERVICE_UID } from '../contract';
import { ConfigError } from './config';
import { startService } from './start';

/**
 * Started as root only to bind ACME_HTTP_PORT below 1024 (the stack does so then, with
 * NET_BIND_SERVICE, SETUID and SETGID alone): from here on the service's own user, holding no
 * capability, before it reads a request or writes a file. Docker gives a non-root user no
 * ambient capabilities, and a file capability on node would not survive no-new-privileges.
 */
function dropRoot(): void {
  if (process.getuid?.() !== 0) return;
  try {
    process.setgroups?.([]);
    process.setgid?.(SERVICE_UID);
    process.setuid?.(SERVICE_UID);
  } catch (err) {
    throw new ConfigError(
      `started as root and cannot switch to uid ${SERVICE_UID} (${(err as Error).message}): run the container as ${SERVICE_UID} (the image's user), or give it SETUID and SETGID`,
    );
  }
}

/** Longest a shutdown may wait for in-flight requests before exiting anyway. */
const SHUTDOWN_DEADLINE_MS = 10_000;

async function main(): Promise<void> {
  let service: Awaited<ReturnType<typeof startService>>;
  try {
    service = await startService(process.env, { afterPrivilegedBind: dropRoot });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`turnkey: configuration error: ${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    service.logger.info({ signal }, 'shutting down: finishing in-flight requests');
    const deadline = setTimeout(() => {
      service.logger.error('in-flight requests did not finish in time; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    service.close().then(
      () => {
        service.logger.info('stopped');
        process.exit(0);
      },
      (err: Error) => {
        service.logger.error({ detail: err.message }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: Error) => {
  process.stderr.write(`turnkey: failed to start: ${err.message}\n`);
  process.exit(1);
});
