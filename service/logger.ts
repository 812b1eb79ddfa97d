import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * JSON logs on stdout. Nothing secret is ever passed to the logger; the redaction below is
 * a second line of defence for fields that could carry one if someone logged a raw request.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'turnkey-service' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Fastify logs some requests itself (e.g. while closing); never with the query string.
      serializers: {
        req: (req: { method?: string; url?: string }) => ({
          method: req.method,
          path: req.url?.split('?')[0],
        }),
      },
      redact: {
        paths: [
          'req.headers.authorization',
          'headers.authorization',
          'authorization',
          'secret',
          'credential',
          'token',
          '*.secret',
          '*.credential',
          '*.token',
        ],
        censor: '[redacted]',
      },
    },
    // Buffered stdout: lines go out in synchronous writes of at least 4 KB, and at least
    // every 200 ms (an idle service's line waits no longer). A write per line was the largest
    // single cost of a request in a --cpu-prof profile after the socket write itself, and
    // asynchronous writes only moved it to context switches into libuv's thread pool. pino
    // flushes the buffer when the process exits (main.ts exits on SIGTERM); a SIGKILL loses
    // at most the last 200 ms of lines.
    destination ?? pino.destination({ dest: 1, sync: true, minLength: 4096, periodicFlush: 200 }),
  );
}
