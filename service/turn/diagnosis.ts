import { isPublicAddress } from '../../contract';
import { TurnError } from './error';
import { familyOf } from './message';

/**
 * What a failed STUN/TURN exchange most likely means for a deployment of turnkey, and what
 * fixes it: shared by /readyz (one line) and `turnkey check` (a paragraph per URI).
 */

export interface Diagnosis {
  /** What failed, e.g. "credential refused (401 Unauthorized)". */
  problem: string;
  /** The likely cause, in deployment terms. */
  cause: string;
  /** What to change: config key, env var, firewall rule. */
  fix: string;
}

export interface FailureContext {
  /** `host:port/transport` of the URI tried. */
  target: string;
  /** The port and transport in the URI (for firewall advice). */
  port: number;
  transport: 'udp' | 'tcp' | 'tls';
  /** The host in the URI, as given (a name or an IP). */
  host: string;
  /** That host resolved to an IP, when known. */
  hostAddress?: string;
  /** The relayed address the relay announced, once an allocation succeeded. */
  relayed?: string;
}

const CHAIN_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/** Addresses a relay must never announce to browsers (contract/addresses.ts). */
export { isPublicAddress };

/**
 * The wrong-external-IP fault: the relay announces an address other than the one it is reached
 * at. Only addresses of one family compare: a dual-stack relay reached over IPv6 rightly hands
 * out IPv4 relayed addresses.
 */
export function relayedAddressMismatch(ctx: FailureContext): boolean {
  return (
    ctx.relayed !== undefined &&
    ctx.hostAddress !== undefined &&
    familyOf(ctx.relayed) === familyOf(ctx.hostAddress) &&
    ctx.relayed !== ctx.hostAddress
  );
}

/**
 * An Allocate without REQUESTED-ADDRESS-FAMILY, as every browser sends, got an IPv6 relayed
 * address. RFC 8656 §7.2 makes IPv4 the default, and so does Coturn unless its
 * allocation-default-address-family is keep (the family the client came in over) or ipv6: then
 * a browser on an IPv6 network gets an IPv6 relayed candidate only, and IPv4-only peers are out
 * of its reach.
 */
export function ipv6RelayedByDefault(relayed: string): Diagnosis {
  return {
    problem: `the relay handed the IPv6 relayed address ${relayed} to an Allocate that asked for no address family`,
    cause:
      'browsers never ask for one (REQUESTED-ADDRESS-FAMILY), so a browser reaching this relay over IPv6 gets an IPv6 relayed address and cannot reach IPv4-only peers through it; RFC 8656 makes IPv4 the default',
    fix: "Coturn's allocation-default-address-family must be ipv4, its default and what the shipped turnserver.conf leaves it at: remove allocation-default-address-family=keep or =ipv6 (and keep-address-family) from the relay's config (a custom turnserver.conf or TURN_EXTRA_CONFIG_FILE)",
  };
}

export function diagnose(err: unknown, ctx: FailureContext): Diagnosis {
  if (!(err instanceof TurnError)) {
    return {
      problem: `unexpected failure: ${(err as Error)?.message ?? String(err)}`,
      cause: 'not a STUN/TURN failure this check knows',
      fix: 'run again; if it persists, report it with the output of --json',
    };
  }
  if (err.kind === 'draining') return draining(err);
  if (err.kind === 'refused') return refused(err, ctx);
  if (err.kind === 'tls') return tls(err, ctx);
  if (err.operation === 'relay') return relayLost(err, ctx);
  if (err.kind === 'timeout') {
    const proto = ctx.transport === 'udp' ? 'UDP' : 'TCP';
    return {
      problem: err.message,
      cause: `a firewall or cloud security group drops ${proto} port ${ctx.port} on the way to the relay, or nothing listens there`,
      fix: `open ${proto} ${ctx.port} (turnkey:turnPort is UDP and TCP, turnkey:tlsPort TCP) in the relay host's firewall and security group, and check that the relay container runs`,
    };
  }
  if (err.kind === 'unreachable') {
    if (err.systemCode === 'ECONNREFUSED') {
      return {
        problem: `connection refused by ${ctx.target}`,
        cause: `nothing listens on TCP ${ctx.port} there (relay not running, or another port)`,
        fix: 'start the relay (docker ps; pulumi up), and check that turnkey:turnPort / turnkey:tlsPort match the URIs handed out',
      };
    }
    return {
      problem: err.message,
      cause: 'the relay host cannot be reached (DNS, routing or a reset connection)',
      fix: `check that ${ctx.host} resolves to the relay's public address (turnkey:publicHost) and is reachable from here`,
    };
  }
  return {
    problem: err.message,
    cause: 'the server answered with something that is not a usable TURN response',
    fix: `check that ${ctx.target} is the Coturn relay and not another service`,
  };
}

/** Reason phrases of RFC 8489 §14.8 and RFC 8656 §19, for servers that send none. */
const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  420: 'Unknown Attribute',
  437: 'Allocation Mismatch',
  438: 'Stale Nonce',
  440: 'Address Family not Supported',
  441: 'Wrong Credentials',
  442: 'Unsupported Transport Protocol',
  443: 'Peer Address Family Mismatch',
  486: 'Allocation Quota Reached',
  500: 'Server Error',
  508: 'Insufficient Capacity',
};

function refused(err: TurnError, ctx: FailureContext): Diagnosis {
  const reason = err.reason || REASONS[err.code];
  const problem = `${err.operation ?? 'request'} refused (${err.code}${reason ? ` ${reason}` : ''})`;
  switch (err.code) {
    case 401:
      return {
        problem,
        cause:
          "the relay rejects the credential: the credential service signs with another secret than the relay's static-auth-secret, or the credential expired (clocks apart by more than its ttl)",
        fix: "give both the same secret: redeploy both containers from one stack (pulumi up), or set TURN_SECRET of the service to one of the relay's secrets (TURN_SECRET / TURN_SECRET_PREVIOUS); keep both hosts' clocks synced (NTP)",
      };
    case 403:
      if (err.operation === 'permission' || err.operation === 'relay') {
        if (ctx.relayed !== undefined && !isPublicAddress(ctx.relayed)) {
          return {
            problem,
            cause: `the relay announces the private or reserved relayed address ${ctx.relayed}, which its own deny list forbids as a peer: it runs behind NAT without an external IP mapping`,
            fix: 'set turnkey:externalIp (EXTERNAL_IP) to PUBLIC/PRIVATE (e.g. 203.0.113.7/10.0.0.5), so relayed addresses are public; never add allowed-peer-ip for private ranges',
          };
        }
        return {
          problem,
          cause: `the relay's denied-peer-ip list covers a public peer address${ctx.relayed ? ` (its relayed addresses are ${ctx.relayed})` : ''}: a range in its config is wider than meant (in Coturn an IPv6 range that starts at :: matches every IPv4 peer)`,
          fix: "find the range in the relay's log ('A peer IP … denied in the range: …') and narrow it in turnserver.conf (e.g. ::1-::ffff:ffff instead of ::-::ffff:ffff)",
        };
      }
      return {
        problem,
        cause: 'the relay refuses this client or user (a denied client address or a relay policy)',
        fix: "look for this request's 403 line in the relay's log (docker logs) for the rule that matched",
      };
    case 486:
      return {
        problem,
        cause:
          'the allocation quota is used up (user-quota per user id, across all its credentials; total-quota for the relay)',
        fix: 'wait for idle allocations to time out, or raise turnkey:userQuota / turnkey:totalQuota (TURN_USER_QUOTA / TURN_TOTAL_QUOTA)',
      };
    case 508:
      return {
        problem,
        cause: 'the relay has no free relay port left',
        fix: 'widen turnkey:relayPorts (and open the wider range in the firewall)',
      };
    case 440:
      // The check's own Allocates with a family are handled where they are made (run.ts):
      // what reaches here asked for none, that is for IPv4.
      return {
        problem,
        cause:
          'the relay has no IPv4 address to relay from, so browsers (which ask for no address family, meaning IPv4) get no relayed address',
        fix: 'let the relay relay from an IPv4 address: include one in turnkey:listeningIps (its relay addresses, TURN_RELAY_IPS), or leave it unset for every interface',
      };
    case 438:
      return {
        problem,
        cause: 'the relay keeps calling the nonce stale',
        fix: "check the relay host's clock and its stale-nonce setting",
      };
    default:
      return {
        problem,
        cause: 'the relay refused the request',
        fix: "look for this request in the relay's log (docker logs)",
      };
  }
}

/** Not a fault to fix: the relay is on its way out, and only where clients go has to change. */
function draining(err: TurnError): Diagnosis {
  return {
    problem: `${err.operation ?? 'request'} refused: the relay is draining (${err.code} ${err.reason})`,
    cause:
      'the relay is being replaced (Coturn drains on SIGUSR1): it refuses new allocations, while calls in progress keep relaying until it exits',
    fix: 'clients should use another relay: a fleet hands this one out no more until its probe allocates again; a single relay is ready again once its replacement runs (docker ps)',
  };
}

function tls(err: TurnError, ctx: FailureContext): Diagnosis {
  const code = err.systemCode ?? '';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return {
      problem: `TLS certificate does not name ${ctx.host}`,
      cause: `the relay's certificate is for another name than the ${ctx.host} in its turns: URI`,
      fix: 'set turnkey:tlsCert to a certificate whose names include turnkey:publicHost (or make publicHost the name the certificate is for)',
    };
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return {
      problem: `TLS certificate of ${ctx.target} is ${code === 'CERT_HAS_EXPIRED' ? 'expired' : 'not yet valid'}`,
      cause: 'the relay serves a certificate outside its validity period',
      fix: 'with turnkey:acmeEmail the service renews it: its log and /readyz (with the token) name why the renewal failed; with turnkey:tlsCert renew it, set it again and pulumi up',
    };
  }
  if (CHAIN_CODES.has(code)) {
    return {
      problem: `TLS certificate chain of ${ctx.target} is not trusted (${code})`,
      cause:
        'the relay sends an incomplete chain (leaf without intermediates) or one from a CA browsers do not trust',
      fix: 'set turnkey:tlsCert to the full chain (fullchain.pem, leaf first); for a private CA pass --ca <file> to this check',
    };
  }
  return {
    problem: err.message,
    cause: 'the TLS handshake failed (protocol or cipher mismatch, or not TLS on that port)',
    fix: `check that ${ctx.target} is Coturn's tls-listening-port (turnkey:tlsPort) with turnkey:tlsCert and turnkey:tlsKey set`,
  };
}

function relayLost(err: TurnError, ctx: FailureContext): Diagnosis {
  if (relayedAddressMismatch(ctx)) {
    return {
      problem: `relayed data never arrived: the relay announces ${ctx.relayed} but is reached at ${ctx.hostAddress}`,
      cause:
        'wrong external IP: the relay tells peers to send to an address that is not its public one (a stale or mistyped external IP)',
      fix: `behind 1:1 NAT set turnkey:externalIp (EXTERNAL_IP) to ${ctx.hostAddress}/<private IP>; on a host that has ${ctx.hostAddress} itself, unset it; then pulumi up`,
    };
  }
  return {
    problem: `relayed data never arrived: ${err.message}`,
    cause: 'a firewall drops UDP to the relay port range, so peers cannot reach relayed addresses',
    fix: "open turnkey:relayPorts (UDP) in the relay host's firewall and security group",
  };
}

/** One line for /readyz and logs: what failed and why. */
export function diagnosisLine(d: Diagnosis): string {
  return `${d.problem}: ${d.cause}; fix: ${d.fix}`;
}
