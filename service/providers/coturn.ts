import { createHmac, randomBytes } from 'node:crypto';
import { CREDENTIAL_TTL, type IceUri, parseIceUri } from '../../contract';
import { allocate } from '../turn/client';
import { diagnose, diagnosisLine } from '../turn/diagnosis';
import { TurnError } from '../turn/error';
import { describeTarget } from '../turn/transport';
import { resolveTtl } from './ttl';
import type {
  GetIceServersOptions,
  IceServers,
  ReadyCause,
  ReadyState,
  SecretSigningProvider,
} from './types';
import { assertValidUserId } from './user-id';

export interface CoturnOptions {
  /** The secret Coturn has as `static-auth-secret`. */
  secret: string;
  /** `turn:`/`turns:` URIs handed to browsers. */
  turnUris: string[];
  /** `stun:` URIs handed to browsers (may be empty). */
  stunUris: string[];
  /** Default and maximum credential lifetime in seconds (TURN_TTL); a request may ask for less. */
  credentialTtl: number;
  /** Milliseconds for each request of the readiness allocation. */
  probeTimeoutMs?: number;
  /**
   * Where readiness allocates, if not on the first plain turn: URI: e.g.
   * turn:127.0.0.1:3478 when the service shares the relay's host (no NAT hairpin needed).
   */
  probeUrl?: string;
  /** How long one readiness verdict is reused, so /readyz cannot be used to flood the relay. */
  readyCacheMs?: number;
  /** Clock in milliseconds since the epoch; replaceable for tests. */
  now?: () => number;
  /**
   * Put hashedUserId(secret, userId) in the TURN username instead of the id itself, so the
   * relay (whose verbose log names every username) never sees the app's user ids.
   */
  hashUserIds?: boolean;
}

/**
 * TURN REST API credentials (draft-uberti-behave-turn-rest-00), which Coturn checks
 * with `use-auth-secret`: the username carries its own expiry, the password is its MAC.
 */
/**
 * The user id of readiness credentials: `turnkey:readyz:<random>`. Coturn counts user-quota
 * per user id, the part of the username after "<expiry>:" (userdb.c get_real_username,
 * check_new_allocation_quota), so an id a request could also ask for would let anyone fill
 * the probe's quota and fail readiness. No request can produce this one: a user id never
 * holds `:` (contract/user-id.ts) and a hashed one is base64url. The random part gives each
 * service process its own quota, so the services of a large fleet probing one relay at the
 * same moment do not count against each other.
 */
const readyUser = () => `turnkey:readyz:${randomBytes(4).toString('hex')}`;
const READY_CACHE_MS = 5000;

export function turnRestCredential(
  secret: string,
  userId: string,
  expiresAtUnix: number,
): { username: string; credential: string } {
  const username = `${expiresAtUnix}:${userId}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential };
}

/**
 * The stand-in for a user id in TURN usernames: HMAC-SHA256 keyed with the TURN secret, so a
 * reader of the relay's log cannot confirm a guess (an e-mail address, say) without the secret;
 * 128 bits in base64url. Stable per user and secret, so per-user quotas still hold.
 */
export function hashedUserId(secret: string, userId: string): string {
  return createHmac('sha256', secret)
    .update(`turnkey user id\0${userId}`)
    .digest()
    .subarray(0, 16)
    .toString('base64url');
}

/** The short /readyz cause of a failed readiness Allocate. */
function causeOf(err: unknown): ReadyCause {
  if (!(err instanceof TurnError)) return 'relay_unreachable';
  if (err.kind === 'draining') return 'relay_draining';
  return err.kind === 'refused' ? 'relay_refused' : 'relay_unreachable';
}

export class CoturnProvider implements SecretSigningProvider {
  readonly name = 'coturn' as const;
  private secret: string;
  private readonly turnUris: string[];
  private readonly stunUris: string[];
  private readonly credentialTtl: number;
  private readonly probeTarget: IceUri;
  private readonly probeTimeoutMs: number;
  private readonly now: () => number;
  private readonly hashUserIds: boolean;
  private readonly readyCacheMs: number;
  /** This process's readiness user id (see readyUser). */
  readonly readyUserId = readyUser();
  private verdict: { at: number; state: Promise<ReadyState> } | undefined;

  constructor(opts: CoturnOptions) {
    CoturnProvider.checkSecret(opts.secret);
    const parsed = opts.turnUris.map(parseIceUri);
    const bad = parsed.find((u) => u.scheme !== 'turn' && u.scheme !== 'turns');
    if (bad) throw new Error(`"${bad.uri}" is not a turn:/turns: URI`);
    // Readiness allocates on a plain listener; prefer UDP, which most browsers use.
    const plain = parsed.filter((u) => u.scheme === 'turn');
    const target = opts.probeUrl
      ? parseIceUri(opts.probeUrl)
      : (plain.find((u) => u.transport === 'udp') ?? plain[0]);
    if (!target) {
      throw new Error(
        'coturn provider needs at least one plain turn: URI (turns: alone cannot be probed)',
      );
    }
    this.secret = opts.secret;
    this.turnUris = [...opts.turnUris];
    this.stunUris = [...opts.stunUris];
    this.credentialTtl = opts.credentialTtl;
    this.probeTarget = target;
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 1000;
    this.now = opts.now ?? Date.now;
    this.hashUserIds = opts.hashUserIds ?? false;
    this.readyCacheMs = opts.readyCacheMs ?? READY_CACHE_MS;
  }

  private static checkSecret(secret: string): void {
    if (secret.length === 0) throw new Error('coturn provider needs a non-empty secret');
  }

  /**
   * Signs with `secret` from now on (a rotation): credentials, hashed user ids and the
   * readiness Allocate. A verdict reached with the old secret is dropped, so /readyz answers
   * for the new one.
   */
  useSecret(secret: string): void {
    CoturnProvider.checkSecret(secret);
    this.secret = secret;
    this.verdict = undefined;
  }

  /** The URI readiness allocates on. */
  get probeTargetUri(): string {
    return this.probeTarget.uri;
  }

  async getIceServers(userId: string, opts: GetIceServersOptions = {}): Promise<IceServers> {
    assertValidUserId(userId);
    const ttl = resolveTtl(opts.ttl, this.credentialTtl);
    const expiresAtUnix = Math.floor(this.now() / 1000) + ttl;
    const { username, credential } = turnRestCredential(
      this.secret,
      this.hashUserIds ? hashedUserId(this.secret, userId) : userId,
      expiresAtUnix,
    );
    const iceServers: IceServers['iceServers'] = [];
    if (this.stunUris.length > 0) iceServers.push({ urls: [...this.stunUris] });
    iceServers.push({ urls: [...this.turnUris], username, credential });
    return { iceServers, ttl, expiresAt: new Date(expiresAtUnix * 1000).toISOString() };
  }

  /**
   * A real Allocate with a credential signed by this provider's own secret, released at
   * once: a STUN binding would also succeed against a relay that refuses every credential
   * the service hands out. Concurrent and repeated calls share one verdict for readyCacheMs.
   */
  checkReady(): Promise<ReadyState> {
    const at = performance.now();
    if (!this.verdict || at - this.verdict.at >= this.readyCacheMs) {
      this.verdict = { at, state: this.allocateOnce() };
    }
    return this.verdict.state;
  }

  private async allocateOnce(): Promise<ReadyState> {
    const t = this.probeTarget;
    const transport = t.scheme === 'turns' ? 'tls' : (t.transport ?? 'udp');
    const target = { host: t.host, port: t.port, transport } as const;
    const where = describeTarget(target);
    const { username, credential } = turnRestCredential(
      this.secret,
      this.readyUserId,
      Math.floor(this.now() / 1000) + CREDENTIAL_TTL.min,
    );
    const started = performance.now();
    try {
      const allocation = await allocate({
        ...target,
        username,
        credential,
        timeoutMs: this.probeTimeoutMs,
      });
      const ms = Math.round(performance.now() - started);
      // The relay accepted the credential: that is the verdict. A lost release only leaves an
      // allocation that expires by itself.
      await allocation.release().catch(() => {});
      return {
        ready: true,
        cause: 'ready',
        detail: `TURN allocation on ${where} with a credential this service signed succeeded in ${ms} ms (released)`,
      };
    } catch (err) {
      return {
        ready: false,
        cause: causeOf(err),
        detail: `TURN allocation on ${where} failed: ${diagnosisLine(diagnose(err, { ...target, target: where }))}`,
      };
    }
  }

  async close(): Promise<void> {}
}
