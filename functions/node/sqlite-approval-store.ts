/**
 * Approvals in the SQLite audit database (audit.sink: sqlite:PATH), through node:sqlite: each
 * transition is one conditional UPDATE on the file, so a restart keeps pending and approved
 * requests and an approval is spent once.
 */
import type { DatabaseSync } from 'node:sqlite';
import { type SqlPort, SqlApprovalStore } from '../../shared/exchange/approvals.ts';
import { openAuditDatabase } from './sqlite-audit-sink.ts';

/** node:sqlite is synchronous; the port's promises resolve at once. */
export function sqliteSqlPort(db: DatabaseSync): SqlPort {
  return {
    run: async (sql, params) => Number(db.prepare(sql).run(...params).changes),
    first: async (sql, params) => db.prepare(sql).get(...params) as Record<string, unknown> | undefined,
  };
}

export function sqliteApprovalStore(path: string): SqlApprovalStore {
  return new SqlApprovalStore(sqliteSqlPort(openAuditDatabase(path)));
}
