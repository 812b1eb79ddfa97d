import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends bytes as they are (no client-side validation, unlike undici or fetch) and reads one
 * response; the request should carry `Connection: close`, so the server closes when done.
 */
export function rawRequest(
  port: number,
  request: Buffer | string,
  opts: { timeoutMs?: number; halfClose?: boolean } = {},
): Promise<RawResponse> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete response within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (!m || end === -1)
        return reject(new Error(`not an HTTP response: ${JSON.stringify(text.slice(0, 80))}`));
      const headers: Record<string, string> = {};
      for (const line of text.slice(0, end).split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: Number(m[1]), headers, body: text.slice(end + 4) });
    });
    // write, not end: a client that half-closes after its request has any response still in
    // progress abandoned by Node's HTTP server (httpAllowHalfOpen is off); real clients don't.
    // Garbage that never completes a request line needs the FIN to be answered at all.
    if (opts.halfClose) socket.end(request);
    else socket.write(request);
  });
}
