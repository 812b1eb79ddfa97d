import { isIP } from 'node:net';
import { isLoopbackOrPrivate, isUnspecified } from '../../contract';
import { ConfigError } from './errors';

/**
 * HOST without TLS_CERT_FILE/TLS_KEY_FILE: plain HTTP carries the API's bearer tokens, so only
 * on an address no one outside the host or its private network reaches (the stack refuses the
 * same for turnkey:serviceHost). The image sets HOST=0.0.0.0, which suits HTTPS; run without
 * a certificate, it stops here instead of serving tokens in clear on every interface.
 */

const FIX =
  'set TLS_CERT_FILE and TLS_KEY_FILE to serve HTTPS, or HOST to a loopback or private address (e.g. HOST=127.0.0.1 behind a TLS proxy on this host, or the host’s private address such as HOST=10.0.0.5)';
const WHY =
  'without TLS_CERT_FILE and TLS_KEY_FILE the service speaks plain HTTP: bearer tokens would cross the network in clear';

export function checkPlainHttpHost(host: string): void {
  if (host === 'localhost' || isLoopbackOrPrivate(host)) return;
  const what =
    isIP(host) === 0
      ? 'is not an IP address (a name may resolve to a public one)'
      : isUnspecified(host)
        ? 'listens on every interface'
        : 'is a public address';
  throw new ConfigError(`HOST=${host} ${what}, and ${WHY}: ${FIX}`);
}
