/**
 * A database connection that hangs is replaced, not waited on forever. postgres.js 3.4.9 retries a
 * connection that the server closes during its startup at once and without end, and the query
 * waiting on it never settles (porsager/postgres#1193, an open fix in #1214): the way a replica
 * met a PostgreSQL restart in test/e2e/postgres-replicas.test.ts on a loaded host, answering 503
 * until it was restarted. Here a loopback TCP proxy in front of a real server closes each new
 * connection as soon as it opens, then lets them through; the pool must serve again once the
 * server does, within one client deadline.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, POOL, type PostgresDatabase } from '../../functions/node/postgres/database.ts';
import { type PostgresServer, startPostgres } from '../support/postgres-server.ts';

let pg: PostgresServer;
let proxy: Server;
let proxyUrl: string;
let mode: 'close-at-startup' | 'forward' = 'forward';
const sockets = new Set<Socket>();

beforeAll(async () => {
  pg = await startPostgres();
  proxy = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    if (mode === 'close-at-startup') {
      client.end(); // a FIN before the server's first byte, as a server going down or coming up does
      return;
    }
    const upstream = createConnection(pg.port, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as { port: number }).port;
  proxyUrl = pg.url.replace(`:${pg.port}/`, `:${port}/`);
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => proxy?.close(resolve));
  await pg?.close();
});

describe('the PostgreSQL pool', () => {
  let db: PostgresDatabase;
  afterAll(async () => db?.close());

  it('serves again after connections were closed during their startup, without a restart', async () => {
    db = openDatabase(proxyUrl, { max: 1 });
    expect(await db.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    for (const s of sockets) s.destroy(); // the server went away
    mode = 'close-at-startup';
    // While the server closes every connection at startup, queries fail: a closed connection, or
    // the client deadline for one stuck reconnecting.
    for (let i = 0; i < 2; i++) await expect(db.query('SELECT 2 AS two')).rejects.toThrow();
    mode = 'forward'; // the server is back
    const started = Date.now();
    let answer: unknown;
    while (answer === undefined && Date.now() - started < 3 * POOL.clientDeadlineMs) {
      answer = await db.query('SELECT 3 AS three').catch(() => undefined);
    }
    expect(answer).toEqual([{ three: 3 }]);
  }, 6 * POOL.clientDeadlineMs);
});
