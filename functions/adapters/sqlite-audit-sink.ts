/**
 * The durable audit sink on Node: SQLite through node:sqlite (built into Node 24), WAL mode,
 * synchronous=FULL. `record` returns once the row is committed, so a token is never answered
 * before its row is on disk.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { AuditEvent, AuditSink } from '../../shared/audit.ts';
import { AUDIT_INSERT, AUDIT_MIGRATIONS, AUDIT_MIGRATIONS_TABLE, auditRow } from '../../shared/audit-schema.ts';

export function migrateSqlite(db: DatabaseSync): void {
  db.exec(AUDIT_MIGRATIONS_TABLE);
  const applied = new Set((db.prepare('SELECT id FROM audit_migrations').all() as { id: number }[]).map((r) => r.id));
  for (const migration of AUDIT_MIGRATIONS) {
    if (applied.has(migration.id)) continue;
    db.exec('BEGIN');
    try {
      for (const sql of migration.sql) db.exec(sql);
      db.prepare('INSERT INTO audit_migrations (id, applied_at) VALUES (?, ?)').run(migration.id, new Date().toISOString());
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }
}

export function openAuditDatabase(path: string, options: { readOnly?: boolean } = {}): DatabaseSync {
  if (!options.readOnly && path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path, { readOnly: options.readOnly ?? false });
  if (!options.readOnly) {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = FULL');
    db.exec('PRAGMA busy_timeout = 5000');
    migrateSqlite(db);
  }
  return db;
}

export class SqliteAuditSink implements AuditSink {
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;

  constructor(path: string) {
    this.#db = openAuditDatabase(path);
    this.#insert = this.#db.prepare(AUDIT_INSERT);
  }

  async record(event: AuditEvent): Promise<void> {
    this.#insert.run(...auditRow(event));
  }

  async healthy(): Promise<boolean> {
    try {
      this.#db.prepare('SELECT 1').get();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}
