import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { type RunningService, startService } from '../../service/start';
import { captureLogs } from './log-capture';

export const randomToken = () => randomBytes(24).toString('hex');

/**
 * Starts the real service on a free loopback port with its logs captured; `reloadIntervalMs`
 * polls the certificate's and secret's files faster than the real 2 s, `relayProbeIntervalMs`
 * probes a fleet's relays faster than the real 5 s.
 */
export async function startTestService(
  env: Record<string, string>,
  opts: { reloadIntervalMs?: number; relayProbeIntervalMs?: number } = {},
) {
  const logs = captureLogs();
  const service: RunningService = await startService(
    { HOST: '127.0.0.1', PORT: '0', METRICS_PORT: '0', LOG_LEVEL: 'info', ...env },
    { logDestination: logs.stream, ...opts },
  );
  return { service, logs, url: service.url };
}

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Record<string, unknown>;
}

export async function get(
  url: string,
  opts: { token?: string; headers?: Record<string, string>; method?: string; body?: string } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  const res = await request(url, {
    method: (opts.method ?? 'GET') as 'GET',
    headers,
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

/** One sample of the service's /metrics, by name and its labels as prom-client prints them. */
export async function metricSample(
  service: Pick<RunningService, 'metricsUrl'>,
  name: string,
  labels: string,
): Promise<number | undefined> {
  const { text } = await get(`${service.metricsUrl}/metrics`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}
