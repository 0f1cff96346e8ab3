/**
 * Reads audit rows from PostgreSQL for `argo-sts audit --database REF`: one connection, one query,
 * closed after. Rows come back in the SQLite reader's shape (time as ISO 8601 text, context as JSON
 * text, id as a number), so the CLI formats both alike. The read runs in a READ ONLY transaction.
 */
import { describeDatabaseError, openDatabase, type SqlValue } from './database.ts';
import { checkDatabaseUrl } from './connect.ts';

export type AuditRow = Record<string, string | number | null>;

export async function readPostgresAudit(url: string, sql: string, params: readonly SqlValue[]): Promise<AuditRow[]> {
  checkDatabaseUrl(url);
  const db = openDatabase(url.trim(), { max: 1 });
  try {
    const rows = await db.transaction(async (query) => {
      await query('SET TRANSACTION READ ONLY');
      return query(sql, params);
    });
    return rows.map((row) => {
      const out: AuditRow = {};
      for (const [key, value] of Object.entries(row)) {
        if (value === null || value === undefined) out[key] = null;
        else if (value instanceof Date) out[key] = value.toISOString();
        else if (key === 'id') out[key] = Number(value);
        else if (typeof value === 'object') out[key] = JSON.stringify(value);
        else out[key] = value as string | number;
      }
      return out;
    });
  } catch (cause) {
    throw new Error(`cannot read the audit table from PostgreSQL (${describeDatabaseError(cause)})`, { cause });
  } finally {
    await db.close().catch(() => {});
  }
}
