import { Writable } from 'node:stream';

/** Collects every log line a service writes, so tests can search them for leaked secrets. */
export function captureLogs() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  return {
    stream,
    lines,
    text: () => lines.join('\n'),
    parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
