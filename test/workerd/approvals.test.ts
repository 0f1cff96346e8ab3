/** Approvals in real workerd: pending, approved by bob's own token, issued once; state in D1. */
import { env, SELF } from 'cloudflare:test';
import { importJWK, SignJWT } from 'jose';
import { describe, expect, inject, it } from 'vitest';
import type { D1Like } from '../../functions/worker/d1-audit-sink.ts';
import { postExchange, postForm } from './post-token.ts';
import { signSubject } from './signed-subject.ts';

async function corpToken(sub: string): Promise<string> {
  const jwk = JSON.parse(inject('idJagPrivateJwk'));
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: inject('idJagIssuer'), sub, aud: 'argo-sts', iat: now, exp: now + 300 })
    .setProtectedHeader({ alg: 'ES256', kid: jwk.kid, typ: 'JWT' })
    .sign(await importJWK(jwk, 'ES256'));
}

const release = (params: Record<string, string> = {}) =>
  signSubject({ sub: 'repo:acme/app:ref:refs/heads/release', jti: crypto.randomUUID() }).then((t) => postExchange({ subject_token: t, scope: 'argo:manage', ...params }));

describe('approvals in workerd', () => {
  it('pends, is approved by a named approver, issues once, and keeps its state in D1', async () => {
    const pending = (await (await release()).json()) as Record<string, any>;
    expect(pending).toMatchObject({ error: 'authorization_pending', interval: 5 });
    const id = pending.approval_id as string;
    expect(pending.approval_uri).toBe(`https://sts.workers.test/approvals/${id}`);

    const page = await SELF.fetch(`https://sts.workers.test/approvals/${id}`);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await page.text()).toContain('Approve a credential request');

    const decided = await postForm(`/approvals/${id}`, new URLSearchParams({ decision: 'approve', subject_token: await corpToken('bob') }));
    expect(await decided.json()).toEqual({ approval_id: id, status: 'approved' });
    const issued = await release({ approval_id: id });
    expect(issued.status).toBe(200);
    expect((await release({ approval_id: id })).status).toBe(400);

    const db = (env as unknown as { AUDIT_DB: D1Like }).AUDIT_DB;
    const { results } = await db.prepare('SELECT status, approver FROM approvals WHERE id = ?').bind(id).all();
    expect(results).toEqual([{ status: 'issued', approver: 'corp:bob' }]);
  });

  it('refuses an approver the policy does not name', async () => {
    const pending = (await (await release()).json()) as Record<string, any>;
    const res = await postForm(`/approvals/${pending.approval_id}`, new URLSearchParams({ decision: 'approve', subject_token: await corpToken('mallory') }));
    expect(res.status).toBe(403);
  });
});
