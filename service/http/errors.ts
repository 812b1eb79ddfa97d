import type { FastifyReply } from 'fastify';
import { InvalidInputError, UpstreamError } from '../providers/errors';

/** The API's error body: a stable machine code plus a sentence for humans. */
export interface ErrorBody {
  error: string;
  message: string;
}

const CODES: Record<number, string> = {
  400: 'invalid_request',
  401: 'unauthorized',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  431: 'headers_too_large',
  500: 'internal_error',
  502: 'upstream_error',
  503: 'upstream_unavailable',
};

export function sendError(
  reply: FastifyReply,
  status: number,
  message: string,
  code?: string,
): FastifyReply {
  const body: ErrorBody = {
    error: code ?? CODES[status] ?? (status >= 500 ? 'internal_error' : 'invalid_request'),
    message,
  };
  return reply.code(status).send(body);
}

/** Seconds a client should wait after an upstream outage, when the provider names no wait. */
export const UPSTREAM_RETRY_AFTER_SECONDS = 2;

/**
 * Maps any thrown error to a status and a message that is safe to show. Only errors we
 * authored (or Fastify's own 4xx, which describe the request) keep their message. A 503
 * (upstream down, slow, overloaded or rate-limiting) carries `retryAfter` seconds; a 502
 * (upstream refused our configuration or sent something unusable) needs an operator.
 */
export function classify(err: unknown): {
  status: number;
  message: string;
  log: boolean;
  retryAfter?: number;
} {
  if (err instanceof InvalidInputError) return { status: 400, message: err.message, log: false };
  if (err instanceof UpstreamError) {
    if (err.failure !== 'unavailable') return { status: 502, message: err.message, log: true };
    const retryAfter = err.retryAfterSeconds ?? UPSTREAM_RETRY_AFTER_SECONDS;
    return { status: 503, message: err.message, log: true, retryAfter };
  }
  const e = err as { statusCode?: number; message?: string };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, message: e.message ?? 'bad request', log: false };
  }
  return { status: 500, message: 'internal error; see the service log', log: true };
}

/**
 * The raw response for a request Node's HTTP parser rejected before Fastify saw it (bad request
 * line, oversized headers, a stalled client), in the same JSON shape as every other error.
 * Nothing from the request is reflected.
 */
export function clientErrorResponse(err: { code?: string }): string {
  const [status, reason, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'the request was not received in time']
        : [
            400,
            'Bad Request',
            'malformed HTTP request: check the request line, headers and encoding',
          ];
  const body = JSON.stringify({
    error: CODES[status] ?? 'invalid_request',
    message,
  } satisfies ErrorBody);
  return [
    `HTTP/1.1 ${status} ${reason}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}
