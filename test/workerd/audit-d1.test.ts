/**
 * The audit trail on Workers: the worker, in real workerd, writes one row per /token decision to
 * a real (local) D1 database through the `audit.sink: d1:AUDIT_DB` binding, with the same schema
 * and migrations as SQLite on Node.
 */
import { env, SELF } from 'cloudflare:test';
import { decodeJwt } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { D1AuditSink, type D1Like, migrateD1 } from '../../functions/worker/d1-audit-sink.ts';
import { AUDIT_MIGRATIONS } from '../../shared/audit/audit-schema.ts';
import { idTokenExchangeForm } from '../support/token-requests.ts';
import { signSubject as signLoopbackSubject } from './signed-subject.ts';

const db = (env as unknown as { AUDIT_DB: D1Like }).AUDIT_DB;

/** A fresh jti each time, so no token is ever presented twice. */
function signSubject(overrides: Record<string, unknown> = {}): Promise<string> {
  return signLoopbackSubject({ jti: crypto.randomUUID(), ...overrides });
}

async function exchange(params: Record<string, string>) {
  const res = await SELF.fetch('https://sts.workers.test/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': '203.0.113.9' },
    body: idTokenExchangeForm(params),
  });
  return { res, body: (await res.json()) as Record<string, any>, requestId: res.headers.get('x-request-id')! };
}

async function rowsFor(requestId: string): Promise<Record<string, any>[]> {
  const { results } = await db.prepare('SELECT * FROM audit_events WHERE request_id = ?').bind(requestId).all();
  return results;
}

describe('the D1 audit sink in workerd', () => {
  it('stores one row for an issued token, with its jti, and one for a denial, before answering', async () => {
    const issued = await exchange({ subject_token: await signSubject() });
    expect(issued.res.status).toBe(200);
    const [row, ...others] = await rowsFor(issued.requestId);
    expect(others).toEqual([]);
    expect(row).toMatchObject({
      decision: 'issued', idp: 'github', sub: 'repo:acme/app:ref:refs/heads/main', policy: 'ci-main', namespace: 'ci',
      scopes: 'argo:submit argo:read', client_ip: '203.0.113.9', jti: decodeJwt(issued.body.access_token).jti,
    });
    expect(JSON.parse(row!.context)).toMatchObject({ repository: 'acme/app', run_id: '11223344556' });
    expect(row!.subject_token_sha256).toMatch(/^[0-9a-f]{64}$/);

    const denied = await exchange({ subject_token: await signSubject(), scope: 'argo:manage' });
    expect(denied.res.status).toBe(400);
    expect(await rowsFor(denied.requestId)).toMatchObject([{ decision: 'denied', error: 'ERR_SCOPE_NOT_ALLOWED', check_id: 'scope', jti: null }]);
  });

  it('has applied every migration of the shared schema, recorded in audit_migrations', async () => {
    await exchange({ subject_token: await signSubject() });
    const { results } = await db.prepare('SELECT id FROM audit_migrations ORDER BY id').all<{ id: number }>();
    expect(results.map((r) => r.id)).toEqual(AUDIT_MIGRATIONS.map((m) => m.id));
    // Running them again (a second isolate) changes nothing and does not fail.
    await migrateD1(db, () => new Date().toISOString());
    const again = await db.prepare('SELECT id FROM audit_migrations ORDER BY id').all<{ id: number }>();
    expect(again.results).toEqual(results);
  });

  it('rejects the write, so the exchange refuses the token, when D1 refuses the INSERT', async () => {
    const sink = new D1AuditSink(db);
    await migrateD1(db, () => new Date().toISOString());
    await db.prepare("CREATE TRIGGER IF NOT EXISTS refuse_writes BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'refused'); END").run();
    try {
      await expect(sink.record({ v: 3, time: new Date().toISOString(), request_id: 'r-1', endpoint: 'token', decision: 'issued', jti: 'j-1' })).rejects.toThrow();
      const refused = await exchange({ subject_token: await signSubject() });
      expect(refused.res.status).toBe(503);
      expect(refused.body).toMatchObject({ error: 'temporarily_unavailable', check: 'unavailable' });
      expect(refused.body.access_token).toBeUndefined();
    } finally {
      await db.prepare('DROP TRIGGER refuse_writes').run();
    }
  });

  it('logs the same measurements as Node\'s /metrics as structured "metric" lines beside the audit line', async () => {
    const log = vi.spyOn(console, 'log');
    try {
      const { requestId } = await exchange({ subject_token: await signSubject() });
      const lines = log.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>);
      expect(lines.filter((l) => l.type === 'audit' && l.request_id === requestId)).toHaveLength(1);
      expect(lines).toContainEqual(expect.objectContaining({
        type: 'metric', metric: 'argo_sts_exchanges_total', request_id: requestId, endpoint: 'token', decision: 'issued', reason: '', idp: 'github', policy: 'ci-main',
      }));
      expect(lines).toContainEqual(expect.objectContaining({ type: 'metric', metric: 'argo_sts_audit_write', ok: true }));
    } finally {
      log.mockRestore();
    }
  });
});
