/**
 * The SQLite sink's writer thread (functions/node/sqlite-audit-sink.ts starts it). It owns the
 * connection that commits audit rows, so a commit's fsync (synchronous=FULL) waits here instead of
 * holding the event loop that answers requests.
 *
 * Each message is one batch of rows; they commit in one transaction. If the batch fails, its rows
 * are retried one transaction each, so one bad row (a duplicate jti) cannot take the others down.
 * The answer carries, per row, null (committed) or the error message.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DatabaseSync } from 'node:sqlite';
import { AUDIT_INSERT, type AuditRowValue } from '../../shared/audit/audit-schema.ts';

export interface WriterBatch {
  readonly rows: readonly AuditRowValue[][];
}

export interface WriterResult {
  /** Per row, in order: null once committed, else why it was not. */
  readonly errors: readonly (string | null)[];
}

const db = new DatabaseSync((workerData as { path: string }).path);
db.exec('PRAGMA busy_timeout = 5000');
db.exec('PRAGMA synchronous = FULL');
const insert = db.prepare(AUDIT_INSERT);

function inTransaction(rows: readonly AuditRowValue[][]): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    for (const row of rows) insert.run(...row);
    db.exec('COMMIT');
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

function commit(rows: readonly AuditRowValue[][]): (string | null)[] {
  try {
    inTransaction(rows);
    return rows.map(() => null);
  } catch (err) {
    if (rows.length === 1) return [err instanceof Error ? err.message : String(err)];
    return rows.flatMap((row) => commit([row]));
  }
}

parentPort!.on('message', (batch: WriterBatch) => {
  const result: WriterResult = { errors: commit(batch.rows) };
  parentPort!.postMessage(result);
});
