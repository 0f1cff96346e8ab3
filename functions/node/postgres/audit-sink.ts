/**
 * The durable audit sink on PostgreSQL (`audit.sink: postgres`): every replica's decisions are
 * rows of one `audit_events` table, the columns of shared/audit/audit-schema.ts.
 *
 * Group commit, as the SQLite sink does: `record` queues its row, and at the next turn of the event
 * loop the queue goes out as ONE statement (a multi-row INSERT over unnest, one transaction, one WAL
 * flush). Up to MAX_IN_FLIGHT batches commit at once on pooled connections; rows arriving meanwhile
 * form the next. Measured here (bench/postgres-sizing.ts, docs/operations.md), 32 writers on one
 * pool commit 3,567 rows/s one row per commit and 6,968 grouped, and one replica on SQLite serves
 * ~2,000-4,700 tokens/s: so batches. Each `record` resolves only once the statement holding its row has
 * committed (autocommit, synchronous_commit = on): a token is never answered before its row is on
 * the primary's disk; when the database is down it rejects and the broker answers 503 without the
 * token. A batch refused for its data (a duplicate jti, say) is retried one row per statement, so
 * one bad row cannot take the others down with it; a batch refused because the database is
 * unreachable fails whole.
 */
import type { AuditEvent, AuditSink } from '../../../shared/audit/audit-event.ts';
import { AUDIT_COLUMNS, type AuditRowValue, auditRow } from '../../../shared/audit/audit-schema.ts';
import type { PostgresDatabase, SqlValue } from './database.ts';

type AuditColumn = (typeof AUDIT_COLUMNS)[number];

/**
 * How each audit column's value is cast on insert. A Record over AUDIT_COLUMNS: a column added
 * there does not compile until it has a type here (and a migration in migrations.ts).
 */
const CASTS: Record<AuditColumn, string> = {
  v: 'integer', time: 'timestamptz', request_id: 'text', endpoint: 'text', decision: 'text', error: 'text', reason: 'text',
  check_id: 'text', idp: 'text', iss: 'text', sub: 'text', actor: 'text', policy: 'text', target: 'text', namespace: 'text',
  scopes: 'text', ttl: 'integer', jti: 'text', subject_token_sha256: 'text', client_ip: 'text', user_agent: 'text',
  latency_ms: 'integer',
  // The row carries the context as JSON text; the server parses it.
  context: 'text::jsonb',
  redacted: 'text', request_reason: 'text', actor_chain: 'text', approval_id: 'text',
};

export const POSTGRES_AUDIT_INSERT =
  `INSERT INTO audit_events (${AUDIT_COLUMNS.join(', ')}) VALUES (${AUDIT_COLUMNS.map((c, i) => `$${i + 1}::${CASTS[c]}`).join(', ')})`;

/** Many rows in one statement: one text[] per column, cast back per column. */
export const POSTGRES_AUDIT_INSERT_MANY =
  `INSERT INTO audit_events (${AUDIT_COLUMNS.join(', ')}) SELECT ${AUDIT_COLUMNS.map((c) => `u.${c}::${CASTS[c]}`).join(', ')} ` +
  `FROM unnest(${AUDIT_COLUMNS.map((_, i) => `$${i + 1}::text[]`).join(', ')}) AS u(${AUDIT_COLUMNS.join(', ')})`;

/** Batches committing at once at most (each takes a pooled connection). */
export const MAX_IN_FLIGHT = 4;
/** Rows per statement at most. */
export const MAX_BATCH = 512;

interface Pending {
  readonly row: AuditRowValue[];
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity constraint): the rows, not the database. */
function refusedForItsRows(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

export class PostgresAuditSink implements AuditSink {
  readonly #db: PostgresDatabase;
  #queue: Pending[] = [];
  #inFlight = 0;
  #scheduled = false;
  #closed = false;
  #idle: (() => void) | undefined;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  record(event: AuditEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#closed) {
        reject(new Error('the audit sink is closed'));
        return;
      }
      this.#queue.push({ row: auditRow(event), resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= MAX_IN_FLIGHT || this.#queue.length === 0) return;
    this.#scheduled = true;
    // setImmediate runs after this loop turn's I/O callbacks: every request that reached its
    // audit write in this turn joins the batch.
    setImmediate(() => {
      this.#scheduled = false;
      void this.#send();
    });
  }

  async #send(): Promise<void> {
    if (this.#inFlight >= MAX_IN_FLIGHT || this.#queue.length === 0) return;
    const batch = this.#queue.splice(0, MAX_BATCH);
    this.#inFlight++;
    try {
      await this.#commit(batch);
    } finally {
      this.#inFlight--;
      if (this.#queue.length > 0) this.#schedule();
      else if (this.#inFlight === 0) this.#idle?.();
    }
  }

  async #commit(batch: readonly Pending[]): Promise<void> {
    try {
      await this.#insert(batch.map((item) => item.row));
      for (const item of batch) item.resolve();
    } catch (err) {
      if (batch.length === 1 || !refusedForItsRows(err)) {
        for (const item of batch) item.reject(err);
        return;
      }
      for (const item of batch) await this.#commit([item]);
    }
  }

  async #insert(rows: readonly AuditRowValue[][]): Promise<void> {
    if (rows.length === 1) {
      await this.#db.query(POSTGRES_AUDIT_INSERT, rows[0] as SqlValue[]);
      return;
    }
    const columns = AUDIT_COLUMNS.map((_, c) => rows.map((row) => (row[c] === null ? null : String(row[c]))));
    await this.#db.query(POSTGRES_AUDIT_INSERT_MANY, columns as unknown as SqlValue[]);
  }

  /** One retry: the first probe after a database restart may meet a pooled connection it closed. */
  async healthy(): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.#db.query('SELECT 1');
        return true;
      } catch {
        /* tried again once */
      }
    }
    return false;
  }

  /** Waits for the rows already queued; the pool itself belongs to the caller. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#inFlight === 0 && this.#queue.length === 0) return;
    await new Promise<void>((resolve) => {
      this.#idle = resolve;
      this.#schedule();
    });
  }
}
