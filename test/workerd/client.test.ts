/**
 * The client library inside workerd, talking to the real worker through SELF.fetch: the same
 * code an edge function or an agent running on Workers would use (no Node APIs).
 */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { CredentialCache, decodeJwtClaims, diagnose, exchange, listTargets, StsRequestError } from '../../client/index.ts';
import { signSubject } from './signed-subject.ts';

const options = { broker: 'https://sts.workers.test', fetch: (request: Request) => SELF.fetch(request), userAgent: 'workerd-client-test' };

describe('the argo-sts client on Workers', () => {
  it('exchanges through the worker and caches the credential until it nears expiry', async () => {
    const subjectToken = await signSubject();
    const cache = new CredentialCache();
    let exchanges = 0;
    const get = () => cache.get('argo-prod/ci', () => {
      exchanges++;
      return exchange(options, { subjectToken, audience: 'argo-prod', scope: 'argo:read', namespace: 'ci', ttl: 300 });
    });
    const credential = await get();
    expect(await get()).toBe(credential);
    expect(exchanges).toBe(1);
    expect(credential).toMatchObject({ expiresIn: 300, scopes: ['argo:read'], namespace: 'ci' });
    expect(decodeJwtClaims(credential.accessToken)).toMatchObject({ sub: 'github:repo:acme/app:ref:refs/heads/main', groups: ['argo-sts:ci:argo:read'] });
  });

  it('surfaces a refusal as StsRequestError with the check and request_id, and diagnoses it', async () => {
    const subjectToken = await signSubject();
    const err = await exchange(options, { subjectToken, audience: 'argo-prod', scope: 'argo:manage' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StsRequestError);
    expect(err).toMatchObject({ error: 'invalid_scope', check: 'scope', requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    const diagnosis = await diagnose(options, { subjectToken, audience: 'argo-prod', scope: 'argo:manage' });
    expect(diagnosis.verdict).toBe('deny');
    expect(diagnosis.checks.find((c) => c.check === 'scope')?.status).toBe('fail');
  });

  it('lists the targets', async () => {
    expect(await listTargets(options)).toEqual([{ name: 'argo-prod', kind: 'kubernetes-oidc' }]);
  });
});
