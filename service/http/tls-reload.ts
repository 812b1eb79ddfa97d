import { createSecureContext, type Server } from 'node:tls';
import { type ReloadContext, type ReloadVerdict, reloadOnChange } from '../config/reload';
import { checkTlsPair } from '../config/tls-pair';
import type { FileRead } from '../config/watch';
import { TLS_OPTIONS } from './tls';

/**
 * A renewed certificate (TLS_CERT_FILE, TLS_KEY_FILE rewritten) served without a restart:
 * checked as at start-up, then swapped in with setSecureContext, so new handshakes present it
 * and connections already open keep theirs.
 */

function pem(variable: 'TLS_CERT_FILE' | 'TLS_KEY_FILE', read: FileRead) {
  if (!read.ok) return { variable, cause: `the file cannot be read (${read.code})` };
  const text = read.bytes.toString('utf8').trim();
  return text === '' ? { variable, cause: 'the file is empty' } : text;
}

/** A pair now served: what else follows it (the relay's copy, the expiry metric). */
export type TlsApplied = (pair: { cert: string; key: string }, notAfter: Date) => void;

/** The verdict on one version of the pair, applied to `server`. */
export function tlsVerdict(
  server: Pick<Server, 'setSecureContext'>,
  reads: FileRead[],
  onApplied?: TlsApplied,
  from = 'TLS_CERT_FILE',
): ReloadVerdict {
  const [certRead, keyRead] = reads as [FileRead, FileRead];
  const cert = pem('TLS_CERT_FILE', certRead);
  if (typeof cert !== 'string') return { ok: false, ...cert };
  const key = pem('TLS_KEY_FILE', keyRead);
  if (typeof key !== 'string') return { ok: false, ...key };
  const checked = checkTlsPair(cert, key);
  if (!checked.ok)
    return { ok: false, variable: checked.variable, cause: `the file ${checked.problem}` };
  // setSecureContext replaces every TLS option, not only the pair: without TLS_OPTIONS again
  // the listener would fall back to Node's defaults (static-RSA suites, CBC).
  const options = { cert, key, ...TLS_OPTIONS };
  try {
    createSecureContext(options);
  } catch (err) {
    // OpenSSL's reason (e.g. "ee key too small"), which quotes neither file.
    return {
      ok: false,
      variable: 'TLS_CERT_FILE',
      cause: `TLS refuses the pair: ${(err as Error).message}`,
    };
  }
  const notAfter = new Date(checked.certificate.validTo);
  return {
    ok: true,
    apply: () => {
      server.setSecureContext(options);
      onApplied?.({ cert, key }, notAfter);
      return `TLS certificate reloaded from ${from} (expires ${notAfter.toISOString()})`;
    },
  };
}

export function reloadTls(
  server: Pick<Server, 'setSecureContext'>,
  files: { certFile: string; keyFile: string; from?: string },
  context: ReloadContext,
  onApplied?: TlsApplied,
) {
  return reloadOnChange({
    ...context,
    material: 'tls',
    what: 'the certificate',
    sources: [
      { variable: 'TLS_CERT_FILE', file: files.certFile },
      { variable: 'TLS_KEY_FILE', file: files.keyFile },
    ],
    check: (reads) => tlsVerdict(server, reads, onApplied, files.from),
  });
}
