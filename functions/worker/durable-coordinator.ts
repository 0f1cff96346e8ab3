/**
 * Workers: a Durable Object that makes single-use tokens and rate limits global instead of per
 * isolate. A Durable Object is one strongly consistent instance per name, and it handles one
 * event at a time (storage calls do not let another event in between), so "is this jti new?
 * then remember it" cannot race — unlike KV, which is eventually consistent and misses
 * concurrent replays.
 *
 * Partitioning (coordinatorObjectName): one object per issuer for replays (`replay:<iss>`), one
 * per idp for the identity buckets (`rate:idp:<idp>`: an idp's per_idp and per_subject buckets,
 * taken together in one call), and one per client address for `per_client_ip`
 * (`rate:client:<ip>`). The client bucket is taken on every /token and /diagnose request before
 * any token work, so one object for all addresses would put every request of every client in
 * one queue (a Durable Object handles one event at a time); one per address spreads them, and a
 * flood from one address queues only behind itself. Idle objects cost nothing. Replay entries
 * live in the object's storage until the token's exp, and an alarm deletes expired ones.
 * Rate-limit buckets live in the object's memory: if Cloudflare evicts an idle object, its
 * buckets start full again, which only ever errs towards allowing (a bucket idle long enough to
 * be evicted is full anyway).
 *
 * An object that cannot be reached (or answers an error) is an outage of the broker's state:
 * 503 `temporarily_unavailable`, never a token and never a 500.
 *
 * Enabled when the Worker has the `ARGO_STS_COORDINATOR` Durable Object binding (wrangler.toml);
 * without it, the broker falls back to per-isolate memory (see docs/policy.md).
 */
import { StsError } from '../../shared/errors.ts';
import { type BucketRequest, MemoryRateLimitStore, type RateDecision, type RateLimitStore } from '../../shared/exchange/rate-limit.ts';
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
  let res: Response;
  try {
    const stub = ns.get(ns.idFromName(name));
    res = await stub.fetch(`https://argo-sts.coordinator${path}`, { method: 'POST', body: JSON.stringify(body) });
  } catch (err) {
    throw coordinatorUnavailable(err);
  }
  if (!res.ok) throw coordinatorUnavailable(new Error(`coordinator ${path} answered ${res.status}`));
  return (await res.json()) as T;
}

function coordinatorUnavailable(cause: unknown): StsError {
  return new StsError('ERR_UPSTREAM_UNAVAILABLE', 'the broker\'s coordination state is unreachable; try again later', { cause });
}

/**
 * The object a replay key (`<iss>\0<jti>`) or a set of buckets (rate-limit.ts keys:
 * `subject\0<idp>\0<sub>`, `idp\0<idp>`, `client\0<ip>`) is routed to.
 */
export function coordinatorObjectName(kind: 'replay' | 'rate', key: string): string {
  const parts = key.split('\u0000');
  if (kind === 'replay') return `replay:${parts[0]}`;
  return parts[0] === 'client' ? `rate:client:${parts[1] ?? ''}` : `rate:idp:${parts[1] ?? ''}`;
}

/** Replay cache on the coordinator: one object per issuer. */
export function durableReplayCache(ns: NamespaceLike): ReplayCache {
  return {
    async firstUse(key, expiresAt, now) {
      return (await call<{ first: boolean }>(ns, coordinatorObjectName('replay', key), '/first-use', { key, expiresAt, now })).first;
    },
    async release(key) {
      await call(ns, `replay:${key.split('\u0000')[0]!}`, '/release', { key });
    },
  };
}

/**
 * Rate-limit store on the coordinator: one object per idp for identity buckets, one per address
 * for client buckets. A call's buckets always share an object (rate-limit.ts takes an idp's
 * buckets together, the client bucket alone), so take-all-or-none stays one event.
 */
export function durableRateLimitStore(ns: NamespaceLike): RateLimitStore {
  return {
    take(buckets, now) {
      return call<RateDecision>(ns, coordinatorObjectName('rate', buckets[0]?.key ?? ''), '/take', { buckets, now });
    },
  };
}

/** The broker's rate-limit store and replay cache on the coordinator when the binding exists; {} otherwise. */
export function coordinatorStores(env: Readonly<Record<string, unknown>>): { rateLimitStore?: RateLimitStore; replayCache?: ReplayCache } {
  const ns = env[COORDINATOR_BINDING] as NamespaceLike | undefined;
  if (!ns || typeof ns.idFromName !== 'function') return {};
  return { rateLimitStore: durableRateLimitStore(ns), replayCache: durableReplayCache(ns) };
}
