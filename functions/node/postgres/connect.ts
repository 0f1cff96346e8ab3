/**
 * The replica's one PostgreSQL connection pool, as start-server.ts opens it: the URL resolved from
 * `database` (a secret reference), the schema migrated, then shared by the audit sink and the
 * state stores. A database that cannot be reached or migrated at start-up is a start-up error
 * (exit 2, one line); once serving, an outage is 503s and the pool reconnects by itself.
 */
import { StartupError } from '../../../shared/errors.ts';
import { describeDatabaseError, openDatabase, type OpenOptions, type PostgresDatabase } from './database.ts';
import { migratePostgres } from './migrations.ts';

export function checkDatabaseUrl(url: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url.trim());
  } catch {
    /* reported below */
  }
  if (!parsed || !['postgres:', 'postgresql:'].includes(parsed.protocol)) {
    // Never echo the value: it is a secret and may hold a password.
    throw new StartupError('ERR_DATABASE', 'database: the secret is not a postgres:// URL');
  }
}

export async function connectPostgres(url: string, options: OpenOptions = {}): Promise<PostgresDatabase> {
  checkDatabaseUrl(url);
  const db = openDatabase(url.trim(), options);
  try {
    await migratePostgres(db);
  } catch (cause) {
    await db.close().catch(() => {});
    throw new StartupError('ERR_DATABASE', `database: cannot connect to PostgreSQL or migrate its schema (${describeDatabaseError(cause)})`, { cause });
  }
  return db;
}
