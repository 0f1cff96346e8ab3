/**
 * Audit rows per second on SQLite: the group-committing SqliteAuditSink against the baseline it
 * replaced (one autocommitted INSERT, so one fsync, per event), in the same run, on the same disk,
 * with the same pragmas (WAL, synchronous=FULL). Requests arrive `concurrency` at a time, as
 * concurrent /token calls do.
 *
 *   npx node --disable-warning=ExperimentalWarning bench/audit-sqlite-sink.ts [events] [concurrency]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_INSERT, auditRow } from '../shared/audit/audit-schema.ts';
import type { AuditEvent } from '../shared/audit/audit-event.ts';
import { openAuditDatabase, SqliteAuditSink } from '../functions/node/sqlite-audit-sink.ts';

const events = Number(process.argv[2] ?? 2000);
const concurrency = Number(process.argv[3] ?? 64);

function event(i: number): AuditEvent {
  return {
    v: 2, time: new Date().toISOString(), request_id: crypto.randomUUID(), endpoint: 'token', decision: 'issued',
    idp: 'github', sub: 'repo:acme/app:ref:refs/heads/main', policy: 'ci-main', target: 'argo-prod', namespace: 'ci',
    scopes: ['argo:submit', 'argo:read'], ttl: 600, jti: `jti-${i}-${crypto.randomUUID()}`, latency_ms: 3,
    context: { repository: 'acme/app', run_id: String(i) },
  };
}

async function measure(record: (e: AuditEvent) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < events) await record(event(next++));
  }));
  return events / ((performance.now() - started) / 1000);
}

const dir = mkdtempSync(join(tmpdir(), 'argo-sts-bench-'));
try {
  const baselineDb = openAuditDatabase(join(dir, 'baseline.db'));
  const insert = baselineDb.prepare(AUDIT_INSERT);
  const baseline = await measure(async (e) => void insert.run(...auditRow(e)));
  baselineDb.close();

  const sink = new SqliteAuditSink(join(dir, 'group.db'));
  const grouped = await measure((e) => sink.record(e));
  await sink.close();

  console.log(`events ${events}, concurrency ${concurrency}`);
  console.log(`baseline (one transaction per event): ${baseline.toFixed(0)} rows/s`);
  console.log(`group commit:                         ${grouped.toFixed(0)} rows/s`);
  console.log(`ratio: ${(grouped / baseline).toFixed(1)}x`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
