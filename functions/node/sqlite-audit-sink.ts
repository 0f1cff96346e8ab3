/**
 * The durable audit sink on Node: SQLite through node:sqlite (built into Node 24), WAL mode,
 * synchronous=FULL, so a commit returns only after the WAL is fsynced.
 *
 * Group commit on a writer thread (sqlite-audit-writer.ts): `record` queues its row; at the next
 * turn of the event loop the queue goes to the writer, which commits it in one transaction — one
 * fsync for the whole batch. One batch is in flight at a time; rows that arrive while it commits
 * form the next. The fsync waits on the writer thread, not on the event loop that answers
 * requests. Each `record` resolves only after the transaction holding its row has committed, so a
 * token is never answered before its row is on disk. If a batch fails, its rows are retried one
 * transaction each, so one bad row (a duplicate jti) cannot take the others down with it.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import type { AuditEvent, AuditSink } from '../../shared/audit/audit-event.ts';
import type { WriterBatch, WriterResult } from './sqlite-audit-writer.ts';
import {
  AUDIT_MIGRATION_RECORD, AUDIT_MIGRATIONS_TABLE, type AuditRowValue, auditRow, pendingMigrations,
} from '../../shared/audit/audit-schema.ts';

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
  /** Rows per transaction at most. */
  readonly maxBatch?: number;
}

export class SqliteAuditSink implements AuditSink {
  /** Migrations, health checks; the writer thread has its own connection for the commits. */
  readonly #db: DatabaseSync;
  readonly #writer: Worker;
  readonly #maxBatch: number;
  #queue: Pending[] = [];
  /** The batch the writer is committing: one at a time, rows arriving meanwhile form the next. */
  #inFlight: Pending[] | undefined;
  #scheduled = false;
  #closed = false;
  #drained: (() => void) | undefined;

  constructor(path: string, options: SqliteAuditSinkOptions = {}) {
    this.#db = openAuditDatabase(path);
    this.#maxBatch = options.maxBatch ?? 512;
    this.#writer = new Worker(new URL('./sqlite-audit-writer.ts', import.meta.url), { workerData: { path } });
    this.#writer.unref(); // referenced only while a batch is in flight
    this.#writer.on('message', (result: WriterResult) => this.#committed(result));
    this.#writer.on('error', (err) => this.#fail(err));
  }

  record(event: AuditEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#closed) {
        reject(new Error('the audit database is closed'));
        return;
      }
      this.#queue.push({ row: auditRow(event), resolve, reject });
      if (!this.#inFlight && !this.#scheduled) {
        this.#scheduled = true;
        // setImmediate runs after the I/O callbacks of this loop turn: every request that reached
        // its audit write in this turn joins the batch.
        setImmediate(() => this.#send());
      }
    });
  }

  #send(): void {
    this.#scheduled = false;
    if (this.#inFlight || this.#queue.length === 0) {
      if (!this.#inFlight) this.#drained?.();
      return;
    }
    const batch = this.#queue.splice(0, this.#maxBatch);
    this.#inFlight = batch;
    this.#writer.ref();
    const message: WriterBatch = { rows: batch.map((item) => item.row) };
    this.#writer.postMessage(message);
  }

  #committed(result: WriterResult): void {
    const batch = this.#inFlight ?? [];
    this.#inFlight = undefined;
    this.#writer.unref();
    batch.forEach((item, i) => {
      const error = result.errors[i];
      if (error === null || error === undefined) item.resolve();
      else item.reject(new Error(`audit row not written: ${error}`));
    });
    // Rows that queued during this commit go at once, as the next group.
    this.#send();
  }

  #fail(err: unknown): void {
    this.#closed = true;
    for (const item of [...(this.#inFlight ?? []), ...this.#queue.splice(0)]) item.reject(err);
    this.#inFlight = undefined;
    this.#drained?.();
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
    this.#closed = true;
    if (this.#inFlight || this.#queue.length > 0) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
        if (!this.#inFlight && !this.#scheduled) this.#send();
      });
    }
    await this.#writer.terminate();
    if (this.#db.isOpen) this.#db.close();
  }
}
