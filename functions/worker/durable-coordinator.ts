/**
 * Workers: a Durable Object that makes single-use tokens and rate limits global instead of per
 * isolate. A Durable Object is one strongly consistent instance per name, and it handles one
 * event at a time (storage calls do not let another event in between), so "is this jti new?
 * then remember it" cannot race — unlike KV, which is eventually consistent and misses
 * concurrent replays.
 *
 * Partitioning: one object per issuer for replays (`replay:<iss>`), one per idp for rate limits
 * (`rate:<idp>`), so one busy issuer does not queue behind another. Replay entries live in the
 * object's storage until the token's exp, and an alarm deletes expired ones. Rate-limit buckets
 * live in the object's memory: if Cloudflare evicts an idle object, its buckets start full again,
 * which only ever errs towards allowing (a bucket idle long enough to be evicted is full anyway).
 *
 * Enabled when the Worker has the `ARGO_STS_COORDINATOR` Durable Object binding (wrangler.toml);
 * without it, the broker falls back to per-isolate memory (see docs/policy.md).
 */
import type { Broker } from '../../shared/broker/broker.ts';
import { type BucketRequest, MemoryRateLimitStore, type RateDecision, RateLimiter, type RateLimitStore } from '../../shared/exchange/rate-limit.ts';
import type { ReplayCache } from '../../shared/exchange/replay-cache.ts';

/** The binding name in wrangler.toml. */
export const COORDINATOR_BINDING = 'ARGO_STS_COORDINATOR';

/** The parts of the Workers Durable Object API this module uses (no workers-types in this tsconfig). */
interface StorageLike {
  get<T>(key: string): Promise<T | undefined>;
  put(key: string, value: unknown): Promise<void>;
  delete(keys: string[]): Promise<number>;
  list<T>(options?: { limit?: number }): Promise<Map<string, T>>;
  getAlarm(): Promise<number | null>;
  setAlarm(time: number): Promise<void>;
}
interface StateLike {
  readonly storage: StorageLike;
}
export interface NamespaceLike {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(url: string, init: RequestInit): Promise<Response> };
}

/** Seconds between alarm sweeps at most: expired entries never linger longer than this past exp. */
const SWEEP_SECONDS = 300;
const SWEEP_BATCH = 1000;

export class StsCoordinator {
  readonly #storage: StorageLike;
  readonly #buckets = new MemoryRateLimitStore();

  constructor(state: StateLike) {
    this.#storage = state.storage;
  }

  async fetch(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    const body = (await request.json()) as Record<string, unknown>;
    if (pathname === '/first-use') {
      const { key, expiresAt, now } = body as { key: string; expiresAt: number; now: number };
      return Response.json({ first: await this.#firstUse(`jti:${key}`, expiresAt, now) });
    }
    if (pathname === '/release') {
      await this.#storage.delete([`jti:${(body as { key: string }).key}`]);
      return Response.json({});
    }
    if (pathname === '/take') {
      const { buckets, now } = body as { buckets: BucketRequest[]; now: number };
      return Response.json(await this.#buckets.take(buckets, now));
    }
    return new Response('not found', { status: 404 });
  }

  async #firstUse(key: string, expiresAt: number, now: number): Promise<boolean> {
    const until = await this.#storage.get<number>(key);
    if (until !== undefined && until > now) return false;
    await this.#storage.put(key, expiresAt);
    if ((await this.#storage.getAlarm()) === null) await this.#storage.setAlarm((now + SWEEP_SECONDS) * 1000);
    return true;
  }

  /** Deletes expired replay entries; re-arms while any remain. */
  async alarm(): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const entries = await this.#storage.list<number>({ limit: SWEEP_BATCH });
    const expired = [...entries].filter(([, until]) => until <= now).map(([key]) => key);
    if (expired.length) await this.#storage.delete(expired);
    if (entries.size > expired.length || entries.size === SWEEP_BATCH) await this.#storage.setAlarm(Date.now() + SWEEP_SECONDS * 1000);
  }
}

async function call<T>(ns: NamespaceLike, name: string, path: string, body: unknown): Promise<T> {
  const stub = ns.get(ns.idFromName(name));
  const res = await stub.fetch(`https://argo-sts.coordinator${path}`, { method: 'POST', body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`coordinator ${path} answered ${res.status}`);
  return (await res.json()) as T;
}

/** Replay cache on the coordinator: one object per issuer (keys are `<iss>\0<jti>`). */
export function durableReplayCache(ns: NamespaceLike): ReplayCache {
  return {
    async firstUse(key, expiresAt, now) {
      const issuer = key.split('\u0000')[0]!;
      return (await call<{ first: boolean }>(ns, `replay:${issuer}`, '/first-use', { key, expiresAt, now })).first;
    },
    async release(key) {
      await call(ns, `replay:${key.split('\u0000')[0]!}`, '/release', { key });
    },
  };
}

/** Rate-limit store on the coordinator: one object per idp (bucket keys are `<kind>\0<idp>[\0<sub>]`). */
export function durableRateLimitStore(ns: NamespaceLike): RateLimitStore {
  return {
    take(buckets, now) {
      const idp = buckets[0]?.key.split('\u0000')[1] ?? '';
      return call<RateDecision>(ns, `rate:${idp}`, '/take', { buckets, now });
    },
  };
}

/** The broker's rate limits and replay cache on the coordinator when the binding exists; {} otherwise. */
export function coordinatorParts(env: Readonly<Record<string, unknown>>): Partial<Pick<Broker, 'rateLimits' | 'replayCache'>> {
  const ns = env[COORDINATOR_BINDING] as NamespaceLike | undefined;
  if (!ns || typeof ns.idFromName !== 'function') return {};
  return { rateLimits: new RateLimiter(durableRateLimitStore(ns)), replayCache: durableReplayCache(ns) };
}
