/**
 * Approvals in the D1 audit database (audit.sink: d1:BINDING). D1 runs each statement against its
 * one primary, so the conditional UPDATEs decide an approval once and spend it once across every
 * isolate and location.
 */
import { type SqlPort, SqlApprovalStore } from '../../shared/exchange/approvals.ts';

interface D1Statement {
  bind(...values: unknown[]): D1Statement;
  run(): Promise<{ meta?: { changes?: number } }>;
  first<T = Record<string, unknown>>(): Promise<T | null>;
}
interface D1Database {
  prepare(sql: string): D1Statement;
}

export function d1SqlPort(db: D1Database): SqlPort {
  return {
    run: async (sql, params) => (await db.prepare(sql).bind(...params).run()).meta?.changes ?? 0,
    first: async (sql, params) => (await db.prepare(sql).bind(...params).first()) ?? undefined,
  };
}

export function d1ApprovalStore(env: Readonly<Record<string, unknown>>, binding: string): SqlApprovalStore {
  const db = env[binding] as D1Database | undefined;
  if (!db || typeof db.prepare !== 'function') throw new Error(`audit.sink: d1:${binding} names no D1 binding`);
  return new SqlApprovalStore(d1SqlPort(db));
}
