/**
 * What the benchmarks ask of the broker: one GitHub IdP (the loopback one), one target, and a
 * `ci-main` policy for main of any acme repository (each pre-signed token names its own repo),
 * optionally a SQLite audit sink; and the /token body that exchanges one pre-signed token.
 */
import type { LoopbackIdp } from '../../test/support/loopback-idp.ts';
import { idTokenExchangeForm } from '../../test/support/token-requests.ts';

/** The config document (JSON); the signing keys come from ARGO_STS_SIGNING_KEYS. */
export function benchBrokerConfig(idp: LoopbackIdp, auditDb?: string): Record<string, unknown> {
  return {
    issuer: 'https://sts.bench.example',
    signing: { alg: 'ES256', keys: 'env:ARGO_STS_SIGNING_KEYS' },
    defaults: { ttl: '10m', max_ttl: '1h', clock_skew: '60s' },
    idps: [{ name: 'github', issuer: idp.issuer, audiences: ['argo-sts'], preset: 'github-actions' }],
    targets: [{ name: 'argo-prod', kind: 'kubernetes-oidc', audience: 'kubernetes' }],
    policies: [{
      id: 'ci-main',
      idp: 'github',
      target: 'argo-prod',
      subject_pattern: 'repo:acme/*:ref:refs/heads/main',
      claims: { repository_owner: 'acme' },
      namespaces: ['ci'],
      scopes: ['argo:submit', 'argo:read'],
      max_ttl: '15m',
    }],
    ...(auditDb ? { audit: { sink: `sqlite:${auditDb}` } } : {}),
  };
}

/** The form body of POST /token exchanging `token` for argo-prod. */
export function exchangeBody(token: string): string {
  return idTokenExchangeForm({ subject_token: token, audience: 'argo-prod' }).toString();
}
