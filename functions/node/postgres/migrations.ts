/**
 * The PostgreSQL schema of argo-sts, applied at start-up: the audit table (the columns of
 * shared/audit/audit-schema.ts, in PostgreSQL types), the spent single-use `jti`s and the
 * rate-limit buckets. Migrations run in order inside one transaction under an advisory lock, so
 * replicas starting together migrate one after the other; each applied id is a row of
 * `argo_sts_migrations`. A migration only ever adds, so an older replica keeps working on a
 * database a newer one migrated (a rolling upgrade). Applied migrations are never edited: a new
 * audit column (audit-schema.ts) is a new migration here too, and test/e2e/postgres-store.test.ts
 * fails until it exists.
 */
import type { PostgresDatabase } from './database.ts';

/** pg_advisory_xact_lock key of the migration step ("argo-sts" in ASCII). */
export const MIGRATION_LOCK = 0x6172676f2d737473n;

export const POSTGRES_MIGRATIONS: readonly { readonly id: number; readonly sql: readonly string[] }[] = [
  {
    id: 1,
    sql: [
      `CREATE TABLE IF NOT EXISTS audit_events (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        v INTEGER NOT NULL,
        time TIMESTAMPTZ NOT NULL,
        request_id TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        decision TEXT NOT NULL,
        error TEXT,
        reason TEXT,
        check_id TEXT,
        idp TEXT,
        iss TEXT,
        sub TEXT,
        actor TEXT,
        policy TEXT,
        target TEXT,
        namespace TEXT,
        scopes TEXT,
        ttl INTEGER,
        jti TEXT,
        subject_token_sha256 TEXT,
        client_ip TEXT,
        user_agent TEXT,
        latency_ms INTEGER,
        context JSONB,
        redacted TEXT,
        request_reason TEXT
      )`,
      'CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (time)',
      'CREATE INDEX IF NOT EXISTS audit_events_sub ON audit_events (sub)',
      'CREATE INDEX IF NOT EXISTS audit_events_namespace_time ON audit_events (namespace, time)',
      'CREATE UNIQUE INDEX IF NOT EXISTS audit_events_jti ON audit_events (jti) WHERE jti IS NOT NULL',
      // Spent single-use tokens: the SHA-256 of "<iss>\0<jti>" (text cannot hold NUL), until exp + leeway.
      `CREATE TABLE IF NOT EXISTS argo_sts_spent_jtis (
        key TEXT PRIMARY KEY,
        expires_at BIGINT NOT NULL
      )`,
      'CREATE INDEX IF NOT EXISTS argo_sts_spent_jtis_expires_at ON argo_sts_spent_jtis (expires_at)',
      // Token buckets. UNLOGGED: no WAL, so a take does not wait for a disk flush; after a server
      // crash (or on a fail-over standby) the table is empty and every bucket starts full, which
      // only ever errs towards allowing, as an evicted Durable Object does. full_at (ms): when the
      // bucket holds `burst` tokens again; from then on the row is the same as no row and is swept.
      `CREATE UNLOGGED TABLE IF NOT EXISTS argo_sts_rate_buckets (
        key TEXT PRIMARY KEY,
        tokens DOUBLE PRECISION NOT NULL,
        updated_at BIGINT NOT NULL,
        full_at BIGINT NOT NULL
      )`,
      'CREATE INDEX IF NOT EXISTS argo_sts_rate_buckets_full_at ON argo_sts_rate_buckets (full_at)',
      // One take over several buckets, all or none, in one statement: rows are locked in key
      // order (so two takes never deadlock), refilled to now, and decremented only if every one
      // holds a token. wait_ms: how long until every refused bucket holds one again.
      `CREATE OR REPLACE FUNCTION argo_sts_take_tokens(
        keys TEXT[], capacities DOUBLE PRECISION[], ms_per_token DOUBLE PRECISION[], now_ms BIGINT,
        OUT allowed BOOLEAN, OUT wait_ms BIGINT
      ) LANGUAGE plpgsql AS $take$
      DECLARE
        n INTEGER := coalesce(array_length(keys, 1), 0);
        have DOUBLE PRECISION[] := array_fill(0::DOUBLE PRECISION, ARRAY[greatest(n, 1)]);
        stamp BIGINT[] := array_fill(0::BIGINT, ARRAY[greatest(n, 1)]);
        i INTEGER;
        held DOUBLE PRECISION;
        last_ms BIGINT;
      BEGIN
        allowed := TRUE;
        wait_ms := 0;
        FOR i IN SELECT u.o::INTEGER FROM unnest(keys) WITH ORDINALITY AS u(k, o) ORDER BY u.k LOOP
          SELECT b.tokens, b.updated_at INTO held, last_ms FROM argo_sts_rate_buckets b WHERE b.key = keys[i] FOR UPDATE;
          IF NOT FOUND THEN
            INSERT INTO argo_sts_rate_buckets (key, tokens, updated_at, full_at)
              VALUES (keys[i], capacities[i], now_ms, now_ms) ON CONFLICT (key) DO NOTHING;
            SELECT b.tokens, b.updated_at INTO held, last_ms FROM argo_sts_rate_buckets b WHERE b.key = keys[i] FOR UPDATE;
          END IF;
          have[i] := least(capacities[i], held + greatest(0, now_ms - last_ms) / ms_per_token[i]);
          stamp[i] := greatest(last_ms, now_ms);
          IF have[i] < 1 THEN
            allowed := FALSE;
            wait_ms := greatest(wait_ms, round((1 - have[i]) * ms_per_token[i])::BIGINT);
          END IF;
        END LOOP;
        IF NOT allowed THEN
          RETURN;
        END IF;
        FOR i IN 1..n LOOP
          UPDATE argo_sts_rate_buckets
            SET tokens = have[i] - 1, updated_at = stamp[i],
                full_at = stamp[i] + ceil((capacities[i] - (have[i] - 1)) * ms_per_token[i])::BIGINT
            WHERE key = keys[i];
        END LOOP;
      END
      $take$`,
    ],
  },
  {
    // Audit schema v4 (shared/audit/audit-schema.ts): the delegation chain and the approval id.
    id: 2,
    sql: [
      'ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS actor_chain TEXT',
      'ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS approval_id TEXT',
    ],
  },
  {
    // Approvals (shared/exchange/approvals.ts): shared by every replica, as the audit table is.
    id: 3,
    sql: [
      `CREATE TABLE IF NOT EXISTS approvals (
        id TEXT PRIMARY KEY, status TEXT NOT NULL, record TEXT NOT NULL, expires_at BIGINT NOT NULL,
        approver TEXT, decided_at BIGINT
      )`,
    ],
  },
];

export const MIGRATIONS_TABLE =
  'CREATE TABLE IF NOT EXISTS argo_sts_migrations (id INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())';

/** Brings the database to the newest schema; returns the ids it applied (none when up to date). */
export async function migratePostgres(db: PostgresDatabase): Promise<number[]> {
  return db.transaction(async (query) => {
    await query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    // Only a database without the table needs CREATE: an up-to-date one is served by a role that may
    // not create (or update, or delete) anything (docs/operations.md).
    const [present] = await query("SELECT to_regclass('argo_sts_migrations') IS NOT NULL AS present");
    if (!present?.present) await query(MIGRATIONS_TABLE);
    const applied = new Set((await query('SELECT id FROM argo_sts_migrations')).map((row) => Number(row.id)));
    const done: number[] = [];
    for (const migration of POSTGRES_MIGRATIONS) {
      if (applied.has(migration.id)) continue;
      for (const sql of migration.sql) await query(sql);
      await query('INSERT INTO argo_sts_migrations (id) VALUES ($1)', [migration.id]);
      done.push(migration.id);
    }
    return done;
  });
}
