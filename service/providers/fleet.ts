import { type FleetRelay, parseIceUri, REGION_LABEL, stunUrisFromTurn } from '../../contract';
import { CoturnProvider } from './coturn';
import { InvalidInputError, UpstreamError } from './errors';
import type { GetIceServersOptions, IceServers, ReadyState, SecretSigningProvider } from './types';

/**
 * Coturn relays on several hosts sharing one secret (a turnkey fleet): every relay is probed
 * periodically with the readiness Allocate of CoturnProvider (a credential this service signs,
 * a real allocation, released), and requests get the nearest relay that passed its last probe
 * plus a fallback in another region, or every healthy relay. A relay that failed its last
 * probe is never handed out; one that passes again is. One failed probe is enough, with no
 * count of failures to reach first: that holds for a draining relay too (being replaced, it
 * refuses new allocations), which its health names as draining rather than failing.
 */

export type { FleetRelay };

export interface RelayHealth {
  region: string;
  /** The URI probed. */
  target: string;
  /** undefined until its first probe has finished. */
  healthy: boolean | undefined;
  /**
   * Its last probe was refused because the relay is draining (being replaced: it takes no new
   * allocations, while the calls in progress keep relaying). Never healthy while so.
   */
  draining: boolean;
  detail: string;
}

/** What one probe of one relay reports: `cause` tells a draining relay from a failing one. */
export type ProbeVerdict = Pick<ReadyState, 'ready' | 'detail'> &
  Partial<Pick<ReadyState, 'cause'>>;

export interface FleetOptions {
  /** The secret every relay has as `static-auth-secret`. */
  secret: string;
  relays: FleetRelay[];
  /** Region handed out when a request names none (this service's own); default the first relay's. */
  defaultRegion?: string;
  /** Default and maximum credential lifetime in seconds. */
  credentialTtl: number;
  hashUserIds?: boolean;
  /** Time between two probes of one relay (default 5000 ms). */
  probeIntervalMs?: number;
  /** Bound on each request of one probe (default 1000 ms). */
  probeTimeoutMs?: number;
  now?: () => number;
  /** Replaces the real Allocate (tests). */
  probe?: (relay: FleetRelay) => Promise<ProbeVerdict>;
  /**
   * Called when a relay's verdict changes (first verdict included), e.g. to log it: healthy or
   * not, and draining or not.
   */
  onHealthChange?: (relay: RelayHealth) => void;
}

const DEFAULT_PROBE_INTERVAL_MS = 5000;

export class FleetProvider implements SecretSigningProvider {
  readonly name = 'coturn' as const;
  private readonly relays: FleetRelay[];
  private readonly regions: string[];
  private readonly defaultRegion: string;
  private readonly health: RelayHealth[];
  /** One per relay: its readiness Allocate. */
  private readonly probers: CoturnProvider[];
  /** Signers for each set of relays handed out together, by their indexes. */
  private readonly signers = new Map<string, CoturnProvider>();
  private readonly inFlight: (Promise<void> | undefined)[];
  private readonly firstRound: Promise<void>;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private secret: string;

  constructor(private readonly opts: FleetOptions) {
    if (opts.relays.length === 0) throw new Error('a fleet needs at least one relay');
    for (const r of opts.relays)
      if (!REGION_LABEL.test(r.region))
        throw new Error(`relay region "${r.region}" must be lowercase letters, digits and '-'`);
    this.secret = opts.secret;
    this.relays = opts.relays.map((r) => ({ ...r, urls: [...r.urls] }));
    this.regions = [...new Set(this.relays.map((r) => r.region))];
    this.defaultRegion = opts.defaultRegion ?? (this.relays[0] as FleetRelay).region;
    if (!this.regions.includes(this.defaultRegion))
      throw new Error(`default region "${this.defaultRegion}" has no relay`);
    this.probers = this.relays.map((r) => this.signer([r], r.probeUrl));
    this.health = this.relays.map((r, i) => ({
      region: r.region,
      target: (this.probers[i] as CoturnProvider).probeTargetUri,
      healthy: undefined,
      draining: false,
      detail: 'not probed yet',
    }));
    this.inFlight = this.relays.map(() => undefined);
    this.firstRound = this.probeAll();
    this.timer = setInterval(
      () => void this.probeAll(),
      opts.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS,
    );
    this.timer.unref();
  }

  /** A CoturnProvider over these relays: it signs (and for one relay, probes) as a single relay does. */
  private signer(relays: FleetRelay[], probeUrl?: string): CoturnProvider {
    const urls = relays.flatMap((r) => r.urls);
    return new CoturnProvider({
      secret: this.secret,
      turnUris: urls,
      stunUris: stunUrisFromTurn(urls.map(parseIceUri)),
      credentialTtl: this.opts.credentialTtl,
      hashUserIds: this.opts.hashUserIds ?? false,
      // Every probe is a fresh Allocate: the schedule here is the cache.
      readyCacheMs: 0,
      ...(probeUrl ? { probeUrl } : {}),
      ...(this.opts.probeTimeoutMs ? { probeTimeoutMs: this.opts.probeTimeoutMs } : {}),
      ...(this.opts.now ? { now: this.opts.now } : {}),
    });
  }

  /**
   * Signs and probes with `secret` from now on (a rotation). Every relay's health was judged
   * with the old one, so all are probed again as soon as the probes under way are done.
   */
  useSecret(secret: string): void {
    if (secret.length === 0) throw new Error('a fleet needs a non-empty secret');
    this.secret = secret;
    for (const prober of this.probers) prober.useSecret(secret);
    // Made again, with the new secret, on their next use.
    this.signers.clear();
    void Promise.all(this.inFlight).then(() => (this.closed ? undefined : this.probeAll()));
  }

  /** Probes every relay not still being probed; resolves when those probes are done. */
  private probeAll(): Promise<void> {
    return Promise.all(this.relays.map((_, i) => this.probeOne(i))).then(() => {});
  }

  private probeOne(i: number): Promise<void> {
    const running = this.inFlight[i];
    if (running) return running;
    const relay = this.relays[i] as FleetRelay;
    const probe: Promise<ProbeVerdict> = this.opts.probe
      ? this.opts.probe(relay)
      : (this.probers[i] as CoturnProvider).checkReady();
    const done = probe
      .catch((err: unknown): ProbeVerdict => ({ ready: false, detail: String(err) }))
      .then((state) => {
        this.inFlight[i] = undefined;
        if (this.closed) return;
        const h = this.health[i] as RelayHealth;
        const draining = !state.ready && state.cause === 'relay_draining';
        // Draining and then gone (the old container exits) is a change worth a line too.
        const changed = h.healthy !== state.ready || h.draining !== draining;
        h.healthy = state.ready;
        h.draining = draining;
        h.detail = state.detail;
        if (changed) this.opts.onHealthChange?.({ ...h });
      });
    this.inFlight[i] = done;
    return done;
  }

  /** Each relay's last verdict, in TURN_RELAYS order. */
  relayHealth(): RelayHealth[] {
    return this.health.map((h) => ({ ...h }));
  }

  async getIceServers(userId: string, opts: GetIceServersOptions = {}): Promise<IceServers> {
    if (opts.region !== undefined && !this.regions.includes(opts.region))
      throw new InvalidInputError(
        'region',
        `region "${opts.region}" has no relay: use one of ${this.regions.join(', ')} (or leave it out for ${this.defaultRegion})`,
      );
    await this.firstRound;
    const picked = this.pick(opts.region ?? this.defaultRegion, opts.relays === 'all');
    if (picked.length === 0)
      throw new UpstreamError(
        'unavailable',
        'no relay passed its last health check (a TURN allocation with a credential this service signed): see /readyz',
        'no_healthy_relay',
        Math.ceil((this.opts.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS) / 1000),
      );
    const key = picked.join(',');
    let signer = this.signers.get(key);
    if (!signer) {
      signer = this.signer(picked.map((i) => this.relays[i] as FleetRelay));
      this.signers.set(key, signer);
    }
    return signer.getIceServers(userId, opts.ttl === undefined ? {} : { ttl: opts.ttl });
  }

  /**
   * Indexes of the relays to hand out, nearest first: the first healthy one in `region` (or,
   * with none there, in TURN_RELAYS order), then one healthy in another region (or, with
   * none, another in the same); with `all`, every healthy relay, `region`'s first.
   */
  private pick(region: string, all: boolean): number[] {
    const healthy = this.relays.map((_, i) => i).filter((i) => this.health[i]?.healthy === true);
    const inRegion = (i: number) => this.relays[i]?.region === region;
    const ordered = [...healthy.filter(inRegion), ...healthy.filter((i) => !inRegion(i))];
    if (all) return ordered;
    const [primary] = ordered;
    if (primary === undefined) return [];
    const primaryRegion = this.relays[primary]?.region;
    const fallback =
      ordered.find((i) => this.relays[i]?.region !== primaryRegion) ??
      ordered.find((i) => i !== primary);
    return fallback === undefined ? [primary] : [primary, fallback];
  }

  /**
   * Ready while at least one relay passes its probe (a draining one does not); the detail names
   * every relay's state: ok, draining or failing.
   */
  async checkReady(): Promise<ReadyState> {
    await this.firstRound;
    const lines = this.health.map(
      (h) =>
        `${h.region} ${h.target}: ${h.healthy ? 'ok' : h.draining ? 'draining' : 'failing'}: ${h.detail}`,
    );
    const ok = this.health.filter((h) => h.healthy).length;
    return {
      ready: ok > 0,
      cause: ok > 0 ? 'ready' : 'no_healthy_relay',
      detail: `${ok} of ${this.health.length} relays pass their last probe; ${lines.join('; ')}`,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await Promise.all(this.inFlight);
  }
}
