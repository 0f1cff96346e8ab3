/**
 * The SQLite sink on a real file: group commit (concurrent records share a transaction, each
 * resolves only once its row is visible to another connection), a bad row cannot fail its
 * batch-mates, and a database written by an older schema is migrated in place.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteAuditSink } from '../../functions/node/sqlite-audit-sink.ts';
import { AUDIT_MIGRATIONS, AUDIT_MIGRATIONS_TABLE } from '../../shared/audit/audit-schema.ts';
import type { AuditEvent } from '../../shared/audit/audit-event.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'argo-sts-sink-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function event(requestId: string, jti?: string): AuditEvent {
  return { v: 3, time: new Date().toISOString(), request_id: requestId, endpoint: 'token', decision: jti ? 'issued' : 'denied', jti };
}

/** Frames in the write-ahead log: a 32-byte header, then 24 bytes + one page per frame. */
function walFrames(path: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  const { page_size: pageSize } = db.prepare('PRAGMA page_size').get() as { page_size: number };
  db.close();
  const size = statSync(`${path}-wal`).size;
  return size === 0 ? 0 : (size - 32) / (24 + pageSize);
}

function countFrom(path: string, requestId: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM audit_events WHERE request_id = ?').get(requestId) as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('SqliteAuditSink', () => {
  it('resolves each concurrent record only once its row is committed and visible to another connection', async () => {
    const path = join(dir, 'visible.db');
    const sink = new SqliteAuditSink(path);
    const ids = Array.from({ length: 50 }, (_, i) => `req-${i}`);
    const seen: number[] = [];
    await Promise.all(ids.map(async (id) => {
      await sink.record(event(id, `jti-${id}`));
      seen.push(countFrom(path, id));
    }));
    await sink.close();
    expect(seen).toEqual(ids.map(() => 1));
  });

  it('commits concurrent records in a few transactions, not one per record (WAL frames tell)', async () => {
    const path = join(dir, 'grouped.db');
    const sink = new SqliteAuditSink(path);
    await sink.record(event('warm-up', 'jti-warm-up'));
    const framesBefore = walFrames(path);
    await Promise.all(Array.from({ length: 100 }, (_, i) => sink.record(event(`g-${i}`, `jti-g-${i}`))));
    const frames = walFrames(path) - framesBefore;
    await sink.close();
    // One transaction per record appends at least one page frame per record: 100 or more.
    expect(frames).toBeGreaterThan(0);
    expect(frames).toBeLessThan(50);
  });

  it('rejects only the record whose row violates the schema; its batch-mates commit', async () => {
    const path = join(dir, 'duplicate.db');
    const sink = new SqliteAuditSink(path);
    await sink.record(event('first', 'same-jti'));
    const results = await Promise.allSettled([
      sink.record(event('a', 'jti-a')),
      sink.record(event('dup', 'same-jti')),
      sink.record(event('b', 'jti-b')),
    ]);
    await sink.close();
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect([countFrom(path, 'a'), countFrom(path, 'dup'), countFrom(path, 'b')]).toEqual([1, 0, 1]);
  });

  it('migrates a database written under schema v1 in place, keeping its rows', async () => {
    const path = join(dir, 'v1.db');
    const old = new DatabaseSync(path);
    old.exec(AUDIT_MIGRATIONS_TABLE);
    for (const sql of AUDIT_MIGRATIONS[0]!.sql) old.exec(sql);
    old.prepare('INSERT INTO audit_migrations (id, applied_at) VALUES (1, ?)').run(new Date().toISOString());
    old.prepare("INSERT INTO audit_events (v, time, request_id, endpoint, decision, jti) VALUES (1, '2026-01-01T00:00:00.000Z', 'old', 'token', 'issued', 'old-jti')").run();
    old.close();

    const sink = new SqliteAuditSink(path);
    await sink.record({ ...event('new', 'new-jti'), redacted: ['client_ip'] });
    await sink.close();
    const db = new DatabaseSync(path, { readOnly: true });
    const rows = db.prepare('SELECT request_id, v, redacted FROM audit_events ORDER BY id').all();
    const migrations = db.prepare('SELECT id FROM audit_migrations ORDER BY id').all() as { id: number }[];
    db.close();
    expect(rows).toEqual([
      { request_id: 'old', v: 1, redacted: null },
      { request_id: 'new', v: 3, redacted: 'client_ip' },
    ]);
    expect(migrations.map((m) => m.id)).toEqual(AUDIT_MIGRATIONS.map((m) => m.id));
  });

  it('refuses records after close instead of losing them', async () => {
    const sink = new SqliteAuditSink(join(dir, 'closed.db'));
    await sink.close();
    await expect(sink.record(event('late', 'late-jti'))).rejects.toThrow(/closed/);
  });
});
