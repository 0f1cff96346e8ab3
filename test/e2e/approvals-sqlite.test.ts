/**
 * Approvals in the SQLite audit database on Node: a pending approval survives a restart (a new
 * store on the same file), is decided once, and is spent once even by two stores at once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sqliteApprovalStore } from '../../functions/node/sqlite-approval-store.ts';
import type { ApprovalRecord } from '../../shared/exchange/approvals.ts';

const dir = mkdtempSync(join(tmpdir(), 'argo-sts-approvals-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NOW = 1_790_000_000;
const record = (id: string): ApprovalRecord => ({
  id, status: 'pending', policy: 'people', requester: 'keycloak:alice', actor: 'keycloak:agent-7', target: 'argo', namespace: 'dev',
  scopes: ['argo:manage'], ttl: 600, reason: 'why', fingerprint: 'f'.repeat(64), created_at: NOW, expires_at: NOW + 300,
});

describe('the SQLite approval store', () => {
  it('keeps approvals across a restart and spends an approval once across two stores', async () => {
    const path = join(dir, 'audit.db');
    const id = crypto.randomUUID();
    await sqliteApprovalStore(path).create(record(id));
    const restarted = sqliteApprovalStore(path);
    expect(await restarted.get(id)).toMatchObject({ status: 'pending', requester: 'keycloak:alice', scopes: ['argo:manage'] });
    expect(await restarted.decide(id, 'approved', 'keycloak:bob', NOW + 10)).toBe(true);
    expect(await restarted.decide(id, 'denied', 'keycloak:carol', NOW + 11)).toBe(false);
    const other = sqliteApprovalStore(path);
    const spent = await Promise.all([restarted.consume(id, NOW + 20), other.consume(id, NOW + 20)]);
    expect(spent.filter(Boolean)).toHaveLength(1);
    expect(await other.get(id)).toMatchObject({ status: 'issued', approver: 'keycloak:bob', decided_at: NOW + 10 });
  });

  it('decides nothing once expired', async () => {
    const store = sqliteApprovalStore(join(dir, 'expiry.db'));
    const id = crypto.randomUUID();
    await store.create(record(id));
    expect(await store.decide(id, 'approved', 'keycloak:bob', NOW + 300)).toBe(false);
    expect(await store.get(crypto.randomUUID())).toBeUndefined();
  });
});
