/**
 * Rate limits per idp and per subject (`rate_limit` on an idp): token buckets, refilled
 * continuously at `requests / per` and holding at most `burst` (default `requests`).
 *
 * A request takes one token from its subject's bucket and one from its idp's, or from neither:
 * a throttled subject does not drain the idp's budget. Only verified identities are counted,
 * so a forged token cannot spend a genuine subject's or idp's budget.
 *
 * Where the buckets live is a port (`RateLimitStore`). `MemoryRateLimitStore` is exact on Node
 * (one process). On Workers it is per isolate: Cloudflare runs many isolates across locations,
 * so the effective limit is the configured one times the number of isolates serving the
 * traffic — a brake on a runaway client hitting one location, not a global quota. The global
 * store on Workers is the StsCoordinator Durable Object (functions/worker/durable-coordinator.ts),
 * used when its binding exists; the Workers Rate Limiting binding is not used, being per location
 * with only 10 s or 60 s periods.
 */
import type { IdpConfig } from '../config/schema.ts';
import { StsError } from '../errors.ts';

export interface RateRule {
  readonly requests: number;
  /** Seconds. */
  readonly per: number;
  readonly burst?: number | undefined;
}

export interface BucketRequest {
  readonly key: string;
  readonly rule: RateRule;
}

export interface RateDecision {
  readonly allowed: boolean;
  /** Seconds until every refused bucket holds a token again; 0 when allowed. */
  readonly retryAfter: number;
}

export interface RateLimitStore {
  /** Takes one token from every bucket, or from none when any is empty. `now` in milliseconds. */
  take(buckets: readonly BucketRequest[], now: number): Promise<RateDecision>;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** Buckets above this count are evicted oldest-first (a full bucket is the same as no bucket). */
export const MAX_BUCKETS = 100_000;

/** In-memory token buckets: exact in one process; per isolate on Workers (see above). */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly #buckets = new Map<string, Bucket>();

  async take(requests: readonly BucketRequest[], now: number): Promise<RateDecision> {
    const states = requests.map(({ key, rule }) => {
      const capacity = rule.burst ?? rule.requests;
      const ratePerMs = rule.requests / (rule.per * 1000);
      const bucket = this.#buckets.get(key);
      const tokens = bucket ? Math.min(capacity, bucket.tokens + Math.max(0, now - bucket.updatedAt) * ratePerMs) : capacity;
      return { key, tokens, ratePerMs, msPerToken: (rule.per * 1000) / rule.requests };
    });
    const empty = states.filter((s) => s.tokens < 1);
    if (empty.length > 0) {
      // Whole milliseconds first, so float noise never adds a second to Retry-After.
      const waitMs = Math.max(...empty.map((s) => Math.round((1 - s.tokens) * s.msPerToken)));
      return { allowed: false, retryAfter: Math.max(1, Math.ceil(waitMs / 1000)) };
    }
    for (const s of states) {
      this.#buckets.delete(s.key); // re-insert: Map order is then least recently used first
      this.#buckets.set(s.key, { tokens: s.tokens - 1, updatedAt: now });
    }
    while (this.#buckets.size > MAX_BUCKETS) this.#buckets.delete(this.#buckets.keys().next().value!);
    return { allowed: true, retryAfter: 0 };
  }
}

/** The buckets a verified identity draws from under its idp's `rate_limit`. */
export function bucketsFor(idp: Pick<IdpConfig, 'name' | 'rate_limit'>, subject: string): BucketRequest[] {
  const out: BucketRequest[] = [];
  if (idp.rate_limit?.per_subject) out.push({ key: `subject\u0000${idp.name}\u0000${subject}`, rule: idp.rate_limit.per_subject });
  if (idp.rate_limit?.per_idp) out.push({ key: `idp\u0000${idp.name}`, rule: idp.rate_limit.per_idp });
  return out;
}

/** The idps' `rate_limit`s over a store; /token and /diagnose share one per broker. */
export class RateLimiter {
  readonly #store: RateLimitStore;

  constructor(store: RateLimitStore = new MemoryRateLimitStore()) {
    this.#store = store;
  }

  /**
   * The opt-in `rate_limit.per_client_ip` bucket, taken before any token work so that a client
   * sending forged or garbage tokens (which no identity bucket counts) is throttled too. The
   * address is the one the runtime saw (the socket on Node, CF-Connecting-IP on Workers). `now` in ms.
   */
  async enforceClient(rule: RateRule | undefined, clientIp: string | undefined, now: number): Promise<void> {
    if (!rule || !clientIp) return;
    const decision = await this.#store.take([{ key: `client\u0000${clientIp}`, rule }], now);
    if (!decision.allowed) {
      throw new StsError('ERR_RATE_LIMITED', `too many requests from this client; retry in ${decision.retryAfter} s`, { retryAfter: decision.retryAfter });
    }
  }

  /** Throws ERR_RATE_LIMITED (429, Retry-After) when a verified identity is over its idp's limits. `now` in ms. */
  async enforce(idp: Pick<IdpConfig, 'name' | 'rate_limit'>, subject: string, now: number): Promise<void> {
    const buckets = bucketsFor(idp, subject);
    if (buckets.length === 0) return;
    const decision = await this.#store.take(buckets, now);
    if (!decision.allowed) {
      throw new StsError('ERR_RATE_LIMITED', `too many requests for this identity; retry in ${decision.retryAfter} s`, { retryAfter: decision.retryAfter });
    }
  }
}
