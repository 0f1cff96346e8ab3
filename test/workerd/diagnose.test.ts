/** POST /diagnose and its page in real workerd: the same core, the Workers runtime. */
import { SELF } from 'cloudflare:test';
import { importJWK, SignJWT } from 'jose';
import { describe, expect, inject, it } from 'vitest';
import githubClaims from '../fixtures/claims/github-actions.json';

async function signSubject(overrides: Record<string, unknown> = {}): Promise<string> {
  const jwk = JSON.parse(inject('idpPrivateJwk'));
  const key = await importJWK(jwk, 'RS256');
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(githubClaims)) if (!k.startsWith('_')) claims[k] = v;
  Object.assign(claims, { iss: inject('idpIssuer'), iat: now, nbf: now - 600, exp: now + 300 }, overrides);
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: jwk.kid }).sign(key);
}

type Check = { check: string; status: string; seconds?: number; leeway_seconds?: number; expected?: unknown; cause?: string };

describe('/diagnose in workerd', () => {
  it('names a token issued 10 min in the future as failing issued_at, with the skew and the leeway', async () => {
    const token = await signSubject({ iat: Math.floor(Date.now() / 1000) + 600 });
    const res = await SELF.fetch('https://sts.workers.test/diagnose', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ subject_token: token, audience: 'argo-prod' }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { verdict: string; disclosure: string; checks: Check[] };
    expect(body.verdict).toBe('deny');
    expect(body.disclosure).toBe('full');
    const failing = body.checks.filter((c) => c.status === 'fail');
    expect(failing.map((c) => c.check)).toEqual(['issued_at']);
    expect(failing[0]).toMatchObject({ leeway_seconds: 60, cause: 'issued_at.future' });
    expect(failing[0]!.seconds).toBeGreaterThan(590);
    expect(body.checks.find((c) => c.check === 'audience')?.expected).toEqual(['argo-sts']);
  });

  it('serves the page with a nonce-based Content-Security-Policy', async () => {
    const res = await SELF.fetch('https://sts.workers.test/diagnose');
    expect(res.status).toBe(200);
    const nonce = /script-src 'nonce-([^']+)'/.exec(res.headers.get('content-security-policy') ?? '')?.[1];
    expect(nonce).toBeTruthy();
    expect(await res.text()).toContain(`<script nonce="${nonce}">`);
  });
});
