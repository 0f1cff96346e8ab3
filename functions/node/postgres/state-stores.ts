/**
 * `state.store: postgres`: the spent single-use `jti`s and the rate-limit buckets of every replica
 * in one database, behind the core's ports (shared/exchange/replay-cache.ts, rate-limit.ts).
 *
 * Consistency: both are decided by the database in one statement, so replicas behave as one
 * broker. A jti is spent by `INSERT ... ON CONFLICT DO UPDATE ... WHERE expired`: of two replicas
 * presenting the same token at the same instant, the second waits on the first's row lock and then
 * finds the jti live, so exactly one gets a credential. A take is one call of the
 * argo_sts_take_tokens function (migrations.ts): the buckets locked in key order, all decremented
 * or none. Keys are stored as their SHA-256 (PostgreSQL text cannot hold the NUL that separates the
 * parts of a key, and the table then holds no subject or jti in the clear).
 *
 * Durability: spent jtis are logged (a crash of the server forgets none, so no replay opens); the
 * buckets table is UNLOGGED (a crash resets buckets to full: errs towards allowing).
 *
 * The replay port reserves a jti when its exchange passes policy and releases it when the exchange
 * issues nothing (shared/exchange/replay-cache.ts): the reservation is the row itself (kept when a
 * credential is issued), a release deletes it.
 *
 * Database down: both throw ERR_UPSTREAM_UNAVAILABLE (503 temporarily_unavailable), never a
 * silent allow. Expired rows are swept by every replica every SWEEP.everyMs, in bounded batches.
 */
import { createHash } from 'node:crypto';
import { StsError } from '../../../shared/errors.ts';
import type { BucketRequest, RateDecision, RateLimitStore } from '../../../shared/exchange/rate-limit.ts';
import type { ReplayCache } from '../../../shared/exchange/replay-cache.ts';
import { describeDatabaseError, type PostgresDatabase } from './database.ts';

export const SWEEP = {
  everyMs: 60_000,
  /** Rows deleted per table per sweep at most, so a sweep never holds locks for long. */
  batch: 5_000,
} as const;

/** Warnings about the same failure are at most one per this many milliseconds. */
const WARN_EVERY_MS = 10_000;

export function stateKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Spends a jti: one row comes back only for its first use (or a use after the entry expired). */
const SPEND = `INSERT INTO argo_sts_spent_jtis AS s (key, expires_at) VALUES ($1, $2)
  ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE s.expires_at <= $3
  RETURNING 1 AS first`;

const RELEASE = 'DELETE FROM argo_sts_spent_jtis WHERE key = $1';

const TAKE = 'SELECT allowed, wait_ms FROM argo_sts_take_tokens($1::text[], $2::float8[], $3::float8[], $4::bigint)';

const SWEEP_JTIS = `DELETE FROM argo_sts_spent_jtis WHERE key IN
  (SELECT key FROM argo_sts_spent_jtis WHERE expires_at <= $1 LIMIT ${SWEEP.batch})`;
const SWEEP_BUCKETS = `DELETE FROM argo_sts_rate_buckets WHERE key IN
  (SELECT key FROM argo_sts_rate_buckets WHERE full_at <= $1 LIMIT ${SWEEP.batch})`;

export interface PostgresStateStores {
  readonly replayCache: ReplayCache;
  readonly rateLimitStore: RateLimitStore;
  /** Deletes expired jtis and full buckets; `now` in milliseconds. */
  sweep(now: number): Promise<void>;
  /** Stops the sweeps (the pool belongs to the caller). */
  close(): void;
}

export interface StateStoreOptions {
  readonly warn: (message: string) => void;
  /** Milliseconds since the epoch, for the sweeps. */
  readonly clock: () => number;
  /** Runs the sweeps on a timer (default true). */
  readonly sweepTimer?: boolean;
}

export function postgresStateStores(db: PostgresDatabase, options: StateStoreOptions): PostgresStateStores {
  let lastWarning = { text: '', at: -Infinity };
  const unavailable = (what: string, cause: unknown): StsError => {
    const text = `database: ${what} failed (${describeDatabaseError(cause)})`;
    const now = Date.now();
    if (text !== lastWarning.text || now - lastWarning.at >= WARN_EVERY_MS) {
      options.warn(text);
      lastWarning = { text, at: now };
    }
    return new StsError('ERR_UPSTREAM_UNAVAILABLE', 'the shared state database is unavailable; try again later', { cause });
  };

  const replayCache: ReplayCache = {
    async firstUse(key, expiresAt, now) {
      let rows;
      try {
        rows = await db.query(SPEND, [stateKey(key), expiresAt, now]);
      } catch (err) {
        throw unavailable('spending a single-use token', err);
      }
      return rows.length === 1;
    },
    async release(key) {
      try {
        await db.query(RELEASE, [stateKey(key)]);
      } catch (err) {
        throw unavailable('releasing a single-use token', err);
      }
    },
  };

  const rateLimitStore: RateLimitStore = {
    async take(buckets: readonly BucketRequest[], now: number): Promise<RateDecision> {
      if (buckets.length === 0) return { allowed: true, retryAfter: 0 };
      let rows;
      try {
        rows = await db.query<{ allowed: boolean; wait_ms: string | number }>(TAKE, [
          buckets.map((b) => stateKey(b.key)),
          buckets.map((b) => b.rule.burst ?? b.rule.requests),
          buckets.map((b) => (b.rule.per * 1000) / b.rule.requests),
          Math.floor(now),
        ]);
      } catch (err) {
        throw unavailable('taking a rate-limit token', err);
      }
      const row = rows[0]!;
      if (row.allowed) return { allowed: true, retryAfter: 0 };
      return { allowed: false, retryAfter: Math.max(1, Math.ceil(Number(row.wait_ms) / 1000)) };
    },
  };

  const sweep = async (now: number) => {
    await db.query(SWEEP_JTIS, [Math.floor(now / 1000)]);
    await db.query(SWEEP_BUCKETS, [Math.floor(now)]);
  };
  const timer = options.sweepTimer === false ? undefined : setInterval(() => {
    sweep(options.clock()).catch((err: unknown) => options.warn(`database: sweeping expired state failed (${describeDatabaseError(err)})`));
  }, SWEEP.everyMs);
  timer?.unref();

  return { replayCache, rateLimitStore, sweep, close: () => clearInterval(timer) };
}
