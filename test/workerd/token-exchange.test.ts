/** The same worker that `wrangler deploy` ships, in real workerd, against a loopback IdP. */
import { SELF } from 'cloudflare:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { idTokenExchangeForm } from '../support/token-requests.ts';
import { signSubject } from './signed-subject.ts';

function exchange(params: Record<string, string>) {
  return SELF.fetch('https://sts.workers.test/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: idTokenExchangeForm(params),
  });
}

describe('the worker in workerd', () => {
  it('exchanges a GitHub-shaped token for a JWT that verifies against its own JWKS', async () => {
    const res = await exchange({ subject_token: await signSubject() });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Record<string, any>;
    expect(body).toMatchObject({ token_type: 'Bearer', namespace: 'ci', scope: 'argo:submit argo:read', expires_in: 600 });
    const jwks = await (await SELF.fetch('https://sts.workers.test/.well-known/jwks.json')).json();
    const { payload } = await jwtVerify(body.access_token, createLocalJWKSet(jwks as never), {
      issuer: 'https://sts.workers.test',
      audience: 'kubernetes',
    });
    expect(payload).toMatchObject({ sub: 'github:repo:acme/app:ref:refs/heads/main', groups: ['argo-sts:ci:argo:submit', 'argo-sts:ci:argo:read'] });
  });

  it('refuses a token for another audience with invalid_request (check audience)', async () => {
    const res = await exchange({ subject_token: await signSubject({ aud: 'https://github.com/acme' }) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request', check: 'audience' });
  });

  it('refuses a token that expired beyond the leeway and accepts one inside it', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await exchange({ subject_token: await signSubject({ exp: now - 120 }) });
    expect(await expired.json()).toMatchObject({ error: 'invalid_request', check: 'expiry' });
    const inside = await exchange({ subject_token: await signSubject({ exp: now - 30 }) });
    expect(inside.status).toBe(200);
  });

  it('refuses a scope escalation with invalid_scope', async () => {
    const res = await exchange({ subject_token: await signSubject(), scope: 'argo:manage' });
    expect(await res.json()).toMatchObject({ error: 'invalid_scope', check: 'scope' });
  });

  it('serves discovery and health', async () => {
    const doc = (await (await SELF.fetch('https://sts.workers.test/.well-known/openid-configuration')).json()) as Record<string, unknown>;
    expect(doc.issuer).toBe('https://sts.workers.test');
    expect((await SELF.fetch('https://sts.workers.test/healthz')).status).toBe(200);
  });
});
