import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * JSON logs on stdout. Nothing secret is ever passed to the logger; the redaction below is
 * a second line of defence for fields that could carry one if someone logged a raw request.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'turnkey-credentials' },
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
    // Asynchronous stdout: while one write is in flight the next lines queue and go out
    // together in one write, so a busy service makes a syscall per batch, not per request
    // (synchronous writes were the largest single cost of a request in a --cpu-prof profile).
    // An idle service still writes each line at once; pino flushes what is queued on exit.
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
