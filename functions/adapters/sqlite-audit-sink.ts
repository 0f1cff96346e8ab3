/**
 * The durable audit sink on Node: SQLite through node:sqlite (built into Node 24), WAL mode,
 * synchronous=FULL, so a commit returns only after the WAL is fsynced.
 *
 * Group commit: `record` queues its row and the queue is written at the next turn of the event
 * loop, all rows queued by then in one transaction — one fsync for the whole batch instead of one
 * per request. Each `record` resolves only after the transaction holding its row has committed,
 * so a token is never answered before its row is on disk. If a batch fails, its rows are retried
 * one transaction each, so one bad row (a duplicate jti) cannot take the others down with it.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { AuditEvent, AuditSink } from '../../shared/audit.ts';
import {
  AUDIT_INSERT, AUDIT_MIGRATION_RECORD, AUDIT_MIGRATIONS_TABLE, type AuditRowValue, auditRow, pendingMigrations,
} from '../../shared/audit-schema.ts';

export function migrateSqlite(db: DatabaseSync): void {
  db.exec(AUDIT_MIGRATIONS_TABLE);
  // BEGIN IMMEDIATE: two processes opening the same file migrate one after the other.
  db.exec('BEGIN IMMEDIATE');
  try {
    const applied = new Set((db.prepare('SELECT id FROM audit_migrations').all() as { id: number }[]).map((r) => r.id));
    for (const migration of pendingMigrations(applied)) {
      for (const sql of migration.sql) db.exec(sql);
      db.prepare(AUDIT_MIGRATION_RECORD).run(migration.id, new Date().toISOString());
    }
    db.exec('COMMIT');
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

export function openAuditDatabase(path: string, options: { readOnly?: boolean } = {}): DatabaseSync {
  if (!options.readOnly && path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path, { readOnly: options.readOnly ?? false });
  db.exec('PRAGMA busy_timeout = 5000');
  if (!options.readOnly) {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = FULL');
    migrateSqlite(db);
  }
  return db;
}

interface Pending {
  readonly row: AuditRowValue[];
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

export interface SqliteAuditSinkOptions {
  /**
   * Rows per transaction at most. A batch holds the event loop while it commits, so it is
   * bounded; 512 rows commit in a few milliseconds.
   */
  readonly maxBatch?: number;
}

export class SqliteAuditSink implements AuditSink {
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #maxBatch: number;
  #queue: Pending[] = [];
  #scheduled = false;

  constructor(path: string, options: SqliteAuditSinkOptions = {}) {
    this.#db = openAuditDatabase(path);
    this.#insert = this.#db.prepare(AUDIT_INSERT);
    this.#maxBatch = options.maxBatch ?? 512;
  }

  record(event: AuditEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (!this.#db.isOpen) {
        reject(new Error('the audit database is closed'));
        return;
      }
      this.#queue.push({ row: auditRow(event), resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // setImmediate runs after the I/O callbacks of this loop turn: every request that reached
        // its audit write in this turn joins the batch.
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      this.#commit(batch);
    }
  }

  #commit(batch: readonly Pending[]): void {
    try {
      this.#inTransaction(() => {
        for (const item of batch) this.#insert.run(...item.row);
      });
    } catch (batchError) {
      if (batch.length === 1) {
        batch[0]!.reject(batchError);
        return;
      }
      for (const item of batch) this.#commit([item]);
      return;
    }
    for (const item of batch) item.resolve();
  }

  #inTransaction(work: () => void): void {
    if (!this.#db.isOpen) throw new Error('the audit database is closed');
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      work();
      this.#db.exec('COMMIT');
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw err;
    }
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
    this.#flush();
    if (this.#db.isOpen) this.#db.close();
  }
}
