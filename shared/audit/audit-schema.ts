/**
 * The audit table, one schema for SQLite (Node, node:sqlite) and D1 (Workers). Migrations are
 * applied in order and recorded in `audit_migrations`; both sinks run the same statements. A
 * migration only ever adds (columns, indexes), so rows written under an older event version stay
 * readable: their new columns are NULL and their `v` says which fields they could have.
 */
import type { AuditEvent } from './audit-event.ts';

export const AUDIT_MIGRATIONS: readonly { readonly id: number; readonly sql: readonly string[] }[] = [
  {
    id: 1,
    sql: [
      `CREATE TABLE IF NOT EXISTS audit_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        v INTEGER NOT NULL,
        time TEXT NOT NULL,
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
        context TEXT
      )`,
      'CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (time)',
      'CREATE INDEX IF NOT EXISTS audit_events_sub ON audit_events (sub)',
      'CREATE UNIQUE INDEX IF NOT EXISTS audit_events_jti ON audit_events (jti) WHERE jti IS NOT NULL',
    ],
  },
  {
    // Event schema v2: which fields audit.redact removed; "who got credentials for namespace X".
    id: 2,
    sql: [
      'ALTER TABLE audit_events ADD COLUMN redacted TEXT',
      'CREATE INDEX IF NOT EXISTS audit_events_namespace_time ON audit_events (namespace, time)',
    ],
  },
  {
    // Event schema v3: the client's stated reason (the `reason` request parameter).
    id: 3,
    sql: ['ALTER TABLE audit_events ADD COLUMN request_reason TEXT'],
  },
];

export const AUDIT_MIGRATIONS_TABLE =
  'CREATE TABLE IF NOT EXISTS audit_migrations (id INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)';

export const AUDIT_COLUMNS = [
  'v', 'time', 'request_id', 'endpoint', 'decision', 'error', 'reason', 'check_id', 'idp', 'iss', 'sub', 'actor',
  'policy', 'target', 'namespace', 'scopes', 'ttl', 'jti', 'subject_token_sha256', 'client_ip', 'user_agent',
  'latency_ms', 'context', 'redacted', 'request_reason',
] as const;

export const AUDIT_INSERT = `INSERT INTO audit_events (${AUDIT_COLUMNS.join(', ')}) VALUES (${AUDIT_COLUMNS.map(() => '?').join(', ')})`;

export type AuditRowValue = string | number | null;

/** An event as the row values of AUDIT_INSERT, in column order. */
export function auditRow(event: AuditEvent): AuditRowValue[] {
  const row: Record<(typeof AUDIT_COLUMNS)[number], AuditRowValue> = {
    v: event.v,
    time: event.time,
    request_id: event.request_id,
    endpoint: event.endpoint,
    decision: event.decision,
    error: event.error ?? null,
    reason: event.reason ?? null,
    check_id: event.check ?? null,
    idp: event.idp ?? null,
    iss: event.iss ?? null,
    sub: event.sub ?? null,
    actor: event.actor ?? null,
    policy: event.policy ?? null,
    target: event.target ?? null,
    namespace: event.namespace ?? null,
    scopes: event.scopes ? event.scopes.join(' ') : null,
    ttl: event.ttl ?? null,
    jti: event.jti ?? null,
    subject_token_sha256: event.subject_token_sha256 ?? null,
    client_ip: event.client_ip ?? null,
    user_agent: event.user_agent ?? null,
    latency_ms: event.latency_ms ?? null,
    context: event.context ? JSON.stringify(event.context) : null,
    redacted: event.redacted?.length ? event.redacted.join(' ') : null,
    request_reason: event.request_reason ?? null,
  };
  return AUDIT_COLUMNS.map((c) => row[c]);
}

/** Statements that bring a database from `applied` migrations to the newest, in order. */
export function pendingMigrations(applied: ReadonlySet<number>): (typeof AUDIT_MIGRATIONS)[number][] {
  return AUDIT_MIGRATIONS.filter((m) => !applied.has(m.id));
}

export const AUDIT_MIGRATION_RECORD = 'INSERT INTO audit_migrations (id, applied_at) VALUES (?, ?)';
