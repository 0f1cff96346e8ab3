/**
 * The durable audit sink on Workers: Cloudflare D1, with the same schema and migrations as SQLite
 * on Node (shared/audit/audit-schema.ts). `record` resolves when D1 has committed the INSERT on its
 * primary, so a token is never answered before its row is stored.
 *
 * Trade-offs: one statement per event — a Worker cannot hold a batch open across requests (I/O
 * started by one request cannot be awaited by another), so there is no group commit here; D1
 * serializes writes on its primary. Migrations run on an isolate's first write; two isolates
 * migrating at once are safe because each migration is one D1 batch (one transaction) that also
 * records itself, so the loser's batch rolls back and it finds the migration applied.
 */
import type { AuditEvent, AuditSink } from '../../shared/audit/audit-event.ts';
import {
  AUDIT_INSERT, AUDIT_MIGRATION_RECORD, AUDIT_MIGRATIONS_TABLE, auditRow, pendingMigrations,
} from '../../shared/audit/audit-schema.ts';
import { ConfigError } from '../../shared/config/parse-config.ts';

/** The part of D1's binding (D1Database) this sink uses. */
export interface D1Like {
  prepare(sql: string): D1StatementLike;
  batch(statements: D1StatementLike[]): Promise<unknown[]>;
}
export interface D1StatementLike {
  bind(...values: unknown[]): D1StatementLike;
  run(): Promise<unknown>;
  all<T = Record<string, unknown>>(): Promise<{ results: T[] }>;
}

export function isD1(value: unknown): value is D1Like {
  return typeof value === 'object' && value !== null
    && typeof (value as D1Like).prepare === 'function' && typeof (value as D1Like).batch === 'function';
}

async function appliedMigrations(db: D1Like): Promise<Set<number>> {
  const { results } = await db.prepare('SELECT id FROM audit_migrations').all<{ id: number }>();
  return new Set(results.map((r) => r.id));
}

export async function migrateD1(db: D1Like, now: () => string): Promise<void> {
  await db.prepare(AUDIT_MIGRATIONS_TABLE).run();
  for (const migration of pendingMigrations(await appliedMigrations(db))) {
    try {
      await db.batch([
        ...migration.sql.map((sql) => db.prepare(sql)),
        db.prepare(AUDIT_MIGRATION_RECORD).bind(migration.id, now()),
      ]);
    } catch (err) {
      // Another isolate applied it first: its batch committed, ours rolled back.
      if (!(await appliedMigrations(db)).has(migration.id)) throw err;
    }
  }
}

export class D1AuditSink implements AuditSink {
  readonly #db: D1Like;
  /** Set once migrations have completed in this isolate; a boolean, never a shared promise. */
  #migrated = false;

  constructor(db: D1Like) {
    this.#db = db;
  }

  async record(event: AuditEvent): Promise<void> {
    if (!this.#migrated) {
      await migrateD1(this.#db, () => new Date().toISOString());
      this.#migrated = true;
    }
    await this.#db.prepare(AUDIT_INSERT).bind(...auditRow(event)).run();
  }

  async healthy(): Promise<boolean> {
    try {
      await this.#db.prepare('SELECT 1').all();
      return true;
    } catch {
      return false;
    }
  }
}

/** The sink for `audit.sink: d1:BINDING`; a missing or wrong binding is a deployment error. */
export function d1AuditSink(env: Readonly<Record<string, unknown>>, binding: string): D1AuditSink {
  const db = env[binding];
  if (!isD1(db)) {
    throw new ConfigError([`audit.sink: d1:${binding} names no D1 binding; add [[d1_databases]] binding = "${binding}" to wrangler.toml`]);
  }
  return new D1AuditSink(db);
}
