import { describe, expect, it } from 'vitest';
import { buildHarness } from '../support/app-harness.ts';

const NOW = 1_790_000_000;

describe('GET /targets', () => {
  it('lists each target\'s name, kind and argo_server, and nothing about clusters, credentials or policies', async () => {
    const h = await buildHarness(`
issuer: https://sts.test.example
signing: { alg: ES256, keys: generate }
idps:
  - { name: github, issuer: https://token.actions.githubusercontent.com, audiences: [argo-sts], preset: github-actions }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes, argo_server: "https://argo.example.com" }
  - name: argo-legacy
    kind: kubernetes-tokenrequest
    api_server: https://k8s.internal.example:6443
    credentials: env:CLUSTER_TOKEN
policies:
  - { id: ci, idp: github, target: argo-prod, subject: "repo:acme/app:ref:refs/heads/main", namespaces: [ci], scopes: [argo:read] }
`, { now: NOW, env: { CLUSTER_TOKEN: 'cluster-secret-token' } });
    const res = await h.app.request('/targets');
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      targets: [
        { name: 'argo-prod', kind: 'kubernetes-oidc', argo_server: 'https://argo.example.com' },
        { name: 'argo-legacy', kind: 'kubernetes-tokenrequest' },
      ],
    });
    expect(text).not.toContain('k8s.internal.example');
    expect(text).not.toContain('CLUSTER_TOKEN');
    expect(text).not.toContain('repo:acme');
  });
});
