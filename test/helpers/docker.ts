import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client } from 'undici';

const exec = promisify(execFile);

/** The Docker CLI, as a user would run it (inspect, history, logs, build). */
export async function dockerCli(args: string[], env: Record<string, string> = {}): Promise<string> {
  try {
    const { stdout, stderr } = await exec('docker', args, {
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, ...env },
    });
    return `${stdout}${stderr}`;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(
      `docker ${args.slice(0, 3).join(' ')} failed: ${e.stderr || e.stdout || e.message}`,
    );
  }
}

/**
 * The Docker Engine API over its unix socket: the same calls the Pulumi Docker provider makes
 * (create with the exact healthcheck array, archive upload, start), which the CLI cannot all
 * express (it has no exec-form --health-cmd).
 */
export class DockerApi {
  private readonly client: Client;

  /** The machine's engine by default; a lab host's engine by its own socket. */
  constructor(readonly socketPath = '/var/run/docker.sock') {
    this.client = new Client('http://localhost', { socketPath });
  }

  /** The env that points the Docker CLI at the same engine. */
  get cliEnv(): Record<string, string> {
    return { DOCKER_HOST: `unix://${this.socketPath}` };
  }

  async call(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ) {
    const res = await this.client.request({
      method,
      path,
      headers: body === undefined ? {} : { 'content-type': contentType },
      body:
        body === undefined
          ? undefined
          : contentType === 'application/json'
            ? JSON.stringify(body)
            : (body as Buffer),
    });
    const text = await res.body.text();
    if (res.statusCode >= 300)
      throw new Error(`Docker API ${method} ${path}: ${res.statusCode} ${text}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }

  /** A call whose answer is a stream of JSON lines (build, pull), read to its end. */
  async stream(
    method: 'POST',
    path: string,
    body: Buffer,
    contentType: string,
  ): Promise<Record<string, unknown>[]> {
    const res = await this.client.request({
      method,
      path,
      headers: { 'content-type': contentType },
      body,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    const text = await res.body.text();
    if (res.statusCode >= 300)
      throw new Error(`Docker API ${method} ${path}: ${res.statusCode} ${text}`);
    return text
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/**
 * A Go duration string as the provider takes it and Go prints it ("10s", "500ms", "1m0s",
 * "1h2m3s": time.ParseDuration's units down to ms), in nanoseconds.
 */
export function nanoseconds(duration: string): number {
  const unit = { ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 } as const;
  let total = 0;
  const rest = duration.replace(/(\d+)(ms|s|m|h)/g, (_, n: string, u: keyof typeof unit) => {
    total += Number(n) * unit[u];
    return '';
  });
  if (rest !== '' || duration === '') throw new Error(`unsupported duration ${duration}`);
  return total;
}
