/**
 * Parsing and validation of STUN/TURN URIs (RFC 7064, RFC 7065), so a typo in
 * TURN_URLS fails at start-up instead of as a silent ICE failure in every browser.
 */

export type IceScheme = 'stun' | 'stuns' | 'turn' | 'turns';
export type IceTransport = 'udp' | 'tcp';

export interface IceUri {
  scheme: IceScheme;
  /** Host name or IP address, without IPv6 brackets. */
  host: string;
  port: number;
  /** Only TURN URIs carry a transport; `turns:` is always TCP (TLS). */
  transport?: IceTransport;
  /** The URI as given. */
  uri: string;
}

const DEFAULT_PORTS: Record<IceScheme, number> = {
  stun: 3478,
  stuns: 5349,
  turn: 3478,
  turns: 5349,
};

const URI =
  /^(stuns?|turns?):(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$/;

export function parseIceUri(uri: string): IceUri {
  const m = URI.exec(uri);
  if (!m) {
    throw new Error(
      `"${uri}" is not a STUN/TURN URI: expected e.g. turn:turn.example.com:3478?transport=udp or stun:turn.example.com:3478`,
    );
  }
  const scheme = m[1] as IceScheme;
  const host = (m[2] as string).replace(/^\[|\]$/g, '');
  const port = m[3] === undefined ? DEFAULT_PORTS[scheme] : Number(m[3]);
  if (port < 1 || port > 65535) throw new Error(`"${uri}" has port ${port}: use 1-65535`);
  const transport = m[4] as IceTransport | undefined;
  if (transport && !scheme.startsWith('turn')) {
    throw new Error(`"${uri}": ?transport= belongs only on turn:/turns: URIs`);
  }
  const parsed: IceUri = { scheme, host, port, uri };
  if (scheme === 'turns') parsed.transport = 'tcp';
  else if (scheme === 'turn') parsed.transport = transport ?? 'udp';
  return parsed;
}

/** A host as it goes into a URI or a `host:port`: IPv6 addresses in brackets (RFC 3986). */
export const hostInUri = (host: string): string => (host.includes(':') ? `[${host}]` : host);

/** `host:port`, with an IPv6 host in brackets. */
export const hostPort = (host: string, port: number): string => `${hostInUri(host)}:${port}`;

/** Builds a STUN/TURN URI; `transport` only on turn:/turns:, as parseIceUri requires. */
export function iceUri(
  scheme: IceScheme,
  host: string,
  port: number,
  transport?: IceTransport,
): string {
  return `${scheme}:${hostInUri(host)}:${port}${transport ? `?transport=${transport}` : ''}`;
}

/** Splits a comma-separated list, ignoring blanks around commas. */
export function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** `stun:` URIs for the same host:port pairs as the given plain `turn:` URIs (Coturn answers STUN there too). */
export function stunUrisFromTurn(turnUris: IceUri[]): string[] {
  const seen = new Set<string>();
  for (const u of turnUris) {
    if (u.scheme !== 'turn') continue;
    seen.add(iceUri('stun', u.host, u.port));
  }
  return [...seen];
}
