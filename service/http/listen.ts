import type { Logger } from 'pino';

/**
 * What binding `::` fails with where the kernel has IPv6 off: no IPv6 sockets at all
 * (ipv6.disable=1) or no IPv6 address to bind (disable_ipv6 on every interface).
 */
const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL']);

/**
 * `listen(host)`, except that HOST=`::` (every address of both families, the stack's default
 * with TLS) on a host without IPv6 listens on 0.0.0.0 instead of not at all: the same
 * deployment then serves IPv4 clients there and both families where IPv6 is on. Any other
 * failure, or a specific address that cannot be bound, stays an error.
 */
export async function listenWithIpv4Fallback(
  listen: (host: string) => Promise<string>,
  host: string,
  logger: Pick<Logger, 'info'>,
): Promise<string> {
  try {
    return await listen(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (host !== '::' || code === undefined || !NO_IPV6.has(code)) throw err;
    logger.info(
      { host, code },
      `HOST=:: cannot be bound (${code}: IPv6 is off on this host): listening on 0.0.0.0, IPv4 only`,
    );
    return listen('0.0.0.0');
  }
}
