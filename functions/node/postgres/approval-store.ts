/**
 * Approvals in PostgreSQL (audit.sink: postgres), so every replica sees the same pending,
 * approved and spent requests: the shared SqlApprovalStore over this database. The table is the
 * migrations' (migrations.ts, id 3); its statements are written with `?` placeholders for SQLite
 * and D1, numbered here, and each transition's conditional UPDATE reports its row through
 * RETURNING, so an approval is decided once and spent once across replicas.
 */
import { type SqlPort, SqlApprovalStore } from '../../../shared/exchange/approvals.ts';
import type { PostgresDatabase } from './database.ts';

/** `?` placeholders as PostgreSQL's `$1`, `$2`, ... (the store's SQL has no `?` inside literals). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

export function postgresSqlPort(db: PostgresDatabase): SqlPort {
  return {
    async run(sql, params) {
      // The table exists: the migrations made it (a serving role may not create tables).
      if (/^\s*CREATE TABLE IF NOT EXISTS approvals\b/i.test(sql)) return 0;
      return (await db.query(`${numbered(sql)} RETURNING 1 AS changed`, params)).length;
    },
    async first(sql, params) {
      return (await db.query(numbered(sql), params))[0];
    },
  };
}

export function postgresApprovalStore(db: PostgresDatabase): SqlApprovalStore {
  return new SqlApprovalStore(postgresSqlPort(db));
}
