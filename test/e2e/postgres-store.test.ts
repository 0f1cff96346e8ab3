/**
 * The PostgreSQL adapters against a real server (test/support/postgres-server.ts): the schema and
 * its migrations, the replay cache, the rate-limit store and the audit sink, each from two pools
 * as two replicas would hold them, and each through an outage of the server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_COLUMNS } from '../../shared/audit/audit-schema.ts';
import type { AuditEvent } from '../../shared/audit/audit-event.ts';
import { StsError } from '../../shared/errors.ts';
import type { PostgresDatabase } from '../../functions/node/postgres/database.ts';
import { connectPostgres } from '../../functions/node/postgres/connect.ts';
import { migratePostgres, POSTGRES_MIGRATIONS } from '../../functions/node/postgres/migrations.ts';
import { PostgresAuditSink } from '../../functions/node/postgres/audit-sink.ts';
import { postgresStateStores, type PostgresStateStores } from '../../functions/node/postgres/state-stores.ts';
import { postgresApprovalStore } from '../../functions/node/postgres/approval-store.ts';
import type { ApprovalRecord } from '../../shared/exchange/approvals.ts';
import { type PostgresServer, startPostgres } from '../support/postgres-server.ts';

let pg: PostgresServer;
/** Two pools on one database: two replicas. */
let a: PostgresDatabase;
let b: PostgresDatabase;
let stateA: PostgresStateStores;
let stateB: PostgresStateStores;
const warnings: string[] = [];

beforeAll(async () => {
  pg = await startPostgres();
  // Both replicas migrate at the same instant: the advisory lock orders them.
  [a, b] = await Promise.all([connectPostgres(pg.url), connectPostgres(pg.url)]);
  const options = { warn: (m: string) => warnings.push(m), clock: () => Date.now(), sweepTimer: false };
  stateA = postgresStateStores(a, options);
  stateB = postgresStateStores(b, options);
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await pg?.close();
});

function event(overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    v: 3, time: new Date().toISOString(), request_id: crypto.randomUUID(), endpoint: 'token', decision: 'issued', idp: 'github',
    iss: 'https://token.actions.githubusercontent.com', sub: 'repo:acme/app:ref:refs/heads/main', policy: 'ci-main', target: 'argo-prod',
    namespace: 'ci', scopes: ['argo:submit'], ttl: 600, jti: crypto.randomUUID(), context: { repository: 'acme/app' }, ...overrides,
  };
}

async function expectUnavailable(promise: Promise<unknown>): Promise<void> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(StsError);
  expect((err as StsError).code).toBe('ERR_UPSTREAM_UNAVAILABLE');
}

describe('the schema', () => {
  it('is migrated once, with every migration recorded, however many replicas start together', async () => {
    expect(await pg.psql('SELECT id FROM argo_sts_migrations ORDER BY id')).toBe(`${POSTGRES_MIGRATIONS.map((m) => m.id).join('\n')}\n`);
    expect(await migratePostgres(a)).toEqual([]);
  });

  it('holds the audit columns of shared/audit/audit-schema.ts, so both sinks store the same fields', async () => {
    const columns = await pg.psql("SELECT column_name FROM information_schema.columns WHERE table_name = 'audit_events' ORDER BY ordinal_position");
    expect(columns.trim().split('\n')).toEqual(['id', ...AUDIT_COLUMNS]);
  });

  it('keeps rate-limit buckets in an UNLOGGED table and spent jtis in a logged one', async () => {
    expect(await pg.psql("SELECT relname, relpersistence FROM pg_class WHERE relname IN ('argo_sts_spent_jtis', 'argo_sts_rate_buckets') ORDER BY relname"))
      .toBe('argo_sts_rate_buckets|u\nargo_sts_spent_jtis|p\n');
  });
});

describe('the replay cache', () => {
  it('spends a jti once: the same key from two replicas at the same instant is a first use exactly once', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (let round = 0; round < 5; round++) {
      const key = `https://issuer.test\u0000${crypto.randomUUID()}`;
      const results = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? stateA : stateB).replayCache.firstUse(key, now + 300, now)));
      expect(results.filter(Boolean)).toHaveLength(1);
    }
  });

  it('allows a jti again once its entry expired, and the sweep deletes expired entries', async () => {
    const key = `https://issuer.test\u0000${crypto.randomUUID()}`;
    expect(await stateA.replayCache.firstUse(key, 1000, 900)).toBe(true);
    expect(await stateB.replayCache.firstUse(key, 1000, 999)).toBe(false);
    expect(await stateB.replayCache.firstUse(key, 2000, 1000)).toBe(true);
    await stateA.sweep(3000 * 1000);
    expect(await pg.psql('SELECT count(*) FROM argo_sts_spent_jtis WHERE expires_at <= 3000')).toBe('0\n');
  });

  it('forgets a released reservation, so the token can be presented again', async () => {
    const key = `https://issuer.test\u0000${crypto.randomUUID()}`;
    const now = Math.floor(Date.now() / 1000);
    expect(await stateA.replayCache.firstUse(key, now + 300, now)).toBe(true);
    await stateA.replayCache.release(key);
    expect(await stateB.replayCache.firstUse(key, now + 300, now)).toBe(true);
    expect(await stateA.replayCache.firstUse(key, now + 300, now)).toBe(false);
  });

  it('stores no jti or issuer in the clear', async () => {
    const jti = `visible-${crypto.randomUUID()}`;
    await stateA.replayCache.firstUse(`https://issuer.test\u0000${jti}`, 4_000_000_000, 1000);
    expect(await pg.psql(`SELECT count(*) FROM argo_sts_spent_jtis WHERE key LIKE '%${jti}%'`)).toBe('0\n');
  });
});

describe('the rate-limit store', () => {
  const rule = { requests: 3, per: 3600 };

  it('holds a budget across replicas: of 12 concurrent takes on a bucket of 3, exactly 3 pass', async () => {
    const key = `subject\u0000github\u0000${crypto.randomUUID()}`;
    const now = Date.now();
    const decisions = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? stateA : stateB).rateLimitStore.take([{ key, rule }], now)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(3);
    // 1 token per 1200 s: the next one in 1200 s.
    expect(decisions.find((d) => !d.allowed)).toEqual({ allowed: false, retryAfter: 1200 });
  });

  it('takes from every bucket or from none: a throttled subject does not drain its idp', async () => {
    const idp = { key: `idp\u0000${crypto.randomUUID()}`, rule: { requests: 10, per: 60 } };
    const subject = { key: `subject\u0000x\u0000${crypto.randomUUID()}`, rule: { requests: 1, per: 60 } };
    const now = Date.now();
    expect((await stateA.rateLimitStore.take([subject, idp], now)).allowed).toBe(true);
    for (let i = 0; i < 5; i++) expect((await stateB.rateLimitStore.take([subject, idp], now)).allowed).toBe(false);
    const nine = await Promise.all(Array.from({ length: 10 }, () => stateA.rateLimitStore.take([idp], now)));
    expect(nine.filter((d) => d.allowed)).toHaveLength(9);
  });

  it('refills continuously, and the sweep deletes buckets that are full again', async () => {
    const key = `client\u0000${crypto.randomUUID()}`;
    const fast = { requests: 2, per: 1 };
    const t0 = 1_000_000;
    expect((await stateA.rateLimitStore.take([{ key, rule: fast }], t0)).allowed).toBe(true);
    expect((await stateA.rateLimitStore.take([{ key, rule: fast }], t0)).allowed).toBe(true);
    expect(await stateB.rateLimitStore.take([{ key, rule: fast }], t0 + 100)).toEqual({ allowed: false, retryAfter: 1 });
    expect((await stateB.rateLimitStore.take([{ key, rule: fast }], t0 + 500)).allowed).toBe(true);
    await stateA.sweep(t0 + 60_000);
    expect(await pg.psql(`SELECT count(*) FROM argo_sts_rate_buckets WHERE full_at <= ${t0 + 60_000}`)).toBe('0\n');
  });
});

describe('the audit sink', () => {
  it('commits a burst of rows in batches, each record resolving once its row is stored', async () => {
    const sinkA = new PostgresAuditSink(a);
    const sinkB = new PostgresAuditSink(b);
    const events = Array.from({ length: 300 }, (_, i) => event({ request_id: `burst-${i}`, context: { repository: 'acme/app', run_id: String(i) } }));
    await Promise.all(events.map((e, i) => (i % 2 ? sinkA : sinkB).record(e)));
    expect(await pg.psql("SELECT count(*), count(DISTINCT jti), min(context ->> 'repository') FROM audit_events WHERE request_id LIKE 'burst-%'")).toBe('300|300|acme/app\n');
    const [row] = await a.query("SELECT time, scopes, ttl, v FROM audit_events WHERE request_id = 'burst-7'");
    expect((row!.time as Date).toISOString()).toBe(events[7]!.time);
    expect(row).toMatchObject({ scopes: 'argo:submit', ttl: 600, v: 3 });
  });

  it('refuses a row whose jti is already stored without taking its batch down', async () => {
    const sink = new PostgresAuditSink(a);
    const jti = crypto.randomUUID();
    await sink.record(event({ jti }));
    const results = await Promise.allSettled([sink.record(event({ jti })), ...Array.from({ length: 9 }, () => sink.record(event()))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', ...Array(9).fill('fulfilled')]);
  });
});

describe('the approval store', () => {
  it('is shared by replicas: created on one, decided once across both, spent once', async () => {
    const [one, two] = [postgresApprovalStore(a), postgresApprovalStore(b)];
    const now = Math.floor(Date.now() / 1000);
    const id = crypto.randomUUID().replace(/-/g, '');
    const record: ApprovalRecord = {
      id, status: 'pending', policy: 'ci-main', requester: 'github:repo:acme/app', target: 'argo-prod', namespace: 'ci',
      scopes: ['argo:manage'], ttl: 600, fingerprint: 'f', created_at: now, expires_at: now + 600,
    };
    await one.create(record);
    expect((await two.get(id))?.status).toBe('pending');
    const decisions = await Promise.all([one.decide(id, 'approved', 'keycloak:bob', now), two.decide(id, 'denied', 'keycloak:carol', now)]);
    expect(decisions.filter(Boolean)).toHaveLength(1);
    const decided = await one.get(id);
    expect([['approved', 'keycloak:bob'], ['denied', 'keycloak:carol']]).toContainEqual([decided?.status, decided?.approver]);
    if (decided?.status === 'approved') {
      const spends = await Promise.all([one.consume(id, now), two.consume(id, now)]);
      expect(spends.filter(Boolean)).toHaveLength(1);
      expect((await two.get(id))?.status).toBe('issued');
    }
    expect(await one.get('no-such-approval')).toBeUndefined();
  });
});

describe('a serving role that may only append to the audit table', () => {
  it('serves an up-to-date database, and cannot change or delete an audit row', async () => {
    const password = crypto.randomUUID();
    await pg.psql(`CREATE ROLE argo_sts_serve LOGIN PASSWORD '${password}';
      GRANT SELECT ON argo_sts_migrations TO argo_sts_serve;
      GRANT INSERT ON audit_events TO argo_sts_serve;
      GRANT SELECT, INSERT, UPDATE, DELETE ON argo_sts_spent_jtis, argo_sts_rate_buckets TO argo_sts_serve;
      GRANT SELECT, INSERT, UPDATE ON approvals TO argo_sts_serve;`);
    const url = new URL(pg.url);
    url.username = 'argo_sts_serve';
    url.password = password;
    const serve = await connectPostgres(url.href);
    try {
      const state = postgresStateStores(serve, { warn: () => {}, clock: () => Date.now(), sweepTimer: false });
      const now = Math.floor(Date.now() / 1000);
      expect(await state.replayCache.firstUse(`https://issuer.test\u0000${crypto.randomUUID()}`, now + 60, now)).toBe(true);
      expect((await state.rateLimitStore.take([{ key: `idp\u0000${crypto.randomUUID()}`, rule: { requests: 1, per: 60 } }], Date.now())).allowed).toBe(true);
      await state.sweep(Date.now());
      await new PostgresAuditSink(serve).record(event({ request_id: 'appended' }));
      for (const sql of ["UPDATE audit_events SET sub = 'someone-else'", 'DELETE FROM audit_events', 'TRUNCATE audit_events']) {
        await expect(serve.query(sql)).rejects.toMatchObject({ code: '42501' }); // insufficient_privilege
      }
    } finally {
      await serve.close();
    }
    expect(await pg.psql("SELECT count(*) FROM audit_events WHERE request_id = 'appended'")).toBe('1\n');
  });
});

describe('an outage of the database', () => {
  it('fails every store with 503 causes while the server is down, and serves again on the same pools once it is back', async () => {
    const sink = new PostgresAuditSink(a);
    const key = `https://issuer.test\u0000${crypto.randomUUID()}`;
    const now = Math.floor(Date.now() / 1000);
    await pg.stop();
    try {
      await expectUnavailable(stateA.replayCache.firstUse(key, now + 60, now));
      await expectUnavailable(stateB.rateLimitStore.take([{ key: 'idp\u0000down', rule: { requests: 1, per: 1 } }], Date.now()));
      await expect(sink.record(event())).rejects.toThrow();
      expect(await sink.healthy()).toBe(false);
    } finally {
      await pg.start();
    }
    expect(await sink.healthy()).toBe(true);
    expect(await stateA.replayCache.firstUse(key, now + 60, now)).toBe(true);
    expect(await stateB.replayCache.firstUse(key, now + 60, now)).toBe(false);
    await sink.record(event({ request_id: 'after-outage' }));
    expect(await pg.psql("SELECT count(*) FROM audit_events WHERE request_id = 'after-outage'")).toBe('1\n');
    // One line per failure kind, naming the failure and never the URL (it holds the password).
    expect(warnings.some((w) => /^database: spending a single-use token failed \(/.test(w))).toBe(true);
    expect(warnings.join('\n')).not.toContain(new URL(pg.url).password);
  });

  it('refuses to start on a database it cannot reach, in one line without the URL', async () => {
    const url = pg.url.replace(`:${pg.port}/`, ':1/');
    const err = await connectPostgres(url).then(() => undefined, (e: unknown) => e as Error);
    expect(err).toMatchObject({ name: 'StartupError', code: 'ERR_DATABASE' });
    expect(err!.message).toMatch(/^database: cannot connect to PostgreSQL or migrate its schema \(.*ECONNREFUSED\)$/);
    expect(err!.message).not.toContain(new URL(pg.url).password);
  });

  it('refuses a database secret that is not a postgres:// URL, without echoing it', async () => {
    await expect(connectPostgres('mysql://root:hunter2@db/x')).rejects.toThrow(/^database: the secret is not a postgres:\/\/ URL$/);
  });
});
