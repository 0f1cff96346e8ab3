/**
 * The PostgreSQL connection pool of one Node replica (`database: env:NAME`, a postgres:// URL),
 * through `postgres` (porsager): connections are opened on demand up to POOL.max and reopened after
 * the server went away, so a database that comes back is used again without a restart.
 *
 * Every statement is bounded twice: by the server (`statement_timeout`, sent at connect) and by the
 * client (a deadline that cancels the query), so neither a slow server nor a dead connection can
 * hold a request. A statement that misses the client deadline also replaces the pool (at most once
 * per deadline): postgres.js 3.4.9 retries a connection the server closed during its startup at
 * once and forever, and every query given to it waits for good (porsager/postgres#1193, seen here
 * when a database restarted under load; test/e2e/postgres-pool-recovery.test.ts). A fresh pool
 * connects anew; the old one is ended without waiting.
 *
 * Commits are synchronous (`synchronous_commit = on` whatever the server's default): an audit row
 * is on the primary's disk before the token it records leaves.
 *
 * The URL is a secret (it may carry a password): it is never logged, and errors name only the
 * failure (a PostgreSQL SQLSTATE or a socket error code).
 */
import postgres from 'postgres';

/** Bounds of the pool; a replica's share of the server's max_connections (default 100). */
export const POOL = {
  /** Connections per replica at most. */
  max: 10,
  /** Seconds to open a connection before the request fails (503). */
  connectTimeoutSeconds: 5,
  /** Seconds an idle connection is kept. */
  idleSeconds: 60,
  /** Seconds a connection lives at most, so a fail-over or a DNS change is picked up. */
  maxLifetimeSeconds: 30 * 60,
  /** The server cancels a statement after this many milliseconds. */
  statementTimeoutMs: 5_000,
  /** The client gives up on a statement after this many milliseconds (a connection that died silently). */
  clientDeadlineMs: 6_000,
} as const;

export type SqlValue = string | number | bigint | boolean | null | readonly string[] | readonly number[];
export type Row = Record<string, unknown>;

export interface PostgresDatabase {
  /** One statement, in its own transaction (autocommit); rejects on any failure, within POOL.clientDeadlineMs. */
  query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Statements in one transaction (migrations): `run` gets a query function bound to it. */
  transaction<T>(run: (query: (sql: string, params?: readonly SqlValue[]) => Promise<Row[]>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A failure as an operator may read it: the SQLSTATE or socket code, never the URL or row values. */
export function describeDatabaseError(err: unknown): string {
  if (err && typeof err === 'object') {
    const { code, name } = err as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && code !== '') return `${typeof name === 'string' ? name : 'Error'} ${code}`;
    if (typeof name === 'string') return name;
  }
  return 'unknown error';
}

export class DatabaseDeadlineError extends Error {
  readonly code = 'CLIENT_DEADLINE';
  constructor() {
    super(`the database did not answer within ${POOL.clientDeadlineMs} ms`);
    this.name = 'DatabaseDeadlineError';
  }
}

function withDeadline<T>(pending: postgres.PendingQuery<postgres.Row[]>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      pending.cancel();
      reject(new DatabaseDeadlineError());
    }, POOL.clientDeadlineMs);
  });
  return Promise.race([pending as unknown as Promise<T>, deadline]).finally(() => clearTimeout(timer));
}

export interface OpenOptions {
  /** Connections at most (default POOL.max). */
  readonly max?: number;
  /** Told when the pool is replaced after a missed deadline (start-server logs it to stderr). */
  readonly onReplaced?: () => void;
}

export function openDatabase(url: string, options: OpenOptions = {}): PostgresDatabase {
  const open = () => postgres(url, {
    max: options.max ?? POOL.max,
    connect_timeout: POOL.connectTimeoutSeconds,
    idle_timeout: POOL.idleSeconds,
    max_lifetime: POOL.maxLifetimeSeconds,
    onnotice: () => {}, // CREATE ... IF NOT EXISTS notices are not operator news
    connection: {
      application_name: 'argo-sts',
      statement_timeout: POOL.statementTimeoutMs,
      idle_in_transaction_session_timeout: POOL.statementTimeoutMs * 2,
      synchronous_commit: 'on',
    },
  });
  let sql = open();
  let replacedAt = 0;
  const replace = () => {
    if (Date.now() - replacedAt < POOL.clientDeadlineMs) return;
    replacedAt = Date.now();
    const old = sql;
    sql = open();
    void old.end({ timeout: 0 }).catch(() => {});
    options.onReplaced?.();
  };
  const bind = (run: postgres.Sql | postgres.TransactionSql) =>
    // Prepared: each connection parses and plans a statement once, and a query is one round trip.
    async (text: string, params: readonly SqlValue[] = []) => {
      try {
        return await withDeadline<Row[]>(run.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true }));
      } catch (err) {
        if (err instanceof DatabaseDeadlineError) replace();
        throw err;
      }
    };
  return {
    query: <T extends Row>(text: string, params: readonly SqlValue[] = []) => bind(sql)(text, params) as Promise<T[]>,
    transaction: async <T>(run: (query: (sql: string, params?: readonly SqlValue[]) => Promise<Row[]>) => Promise<T>) =>
      (await sql.begin((tx) => run(bind(tx)))) as T,
    close: () => sql.end({ timeout: 5 }),
  };
}
