/**
 * The policy engine in real workerd: CEL conditions (@marcbachmann/cel-js, no eval, no
 * dependencies), claim operators, deny policies and examples compile and evaluate inside the
 * Workers runtime exactly as on Node.
 */
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { evaluatePolicy } from '../../shared/policy/evaluate-policy.ts';
import { firstFailure } from '../../shared/checks.ts';

const config = parseConfigText(`
issuer: https://sts.workers.test
signing: { keys: generate }
idps:
  - { name: github, issuer: https://token.actions.githubusercontent.com, audiences: [argo-sts], preset: github-actions }
targets:
  - { name: argo, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - { id: no-prs, effect: deny, idp: github, subject_pattern: "repo:acme/*", claims: { event_name: { any_of: [pull_request, pull_request_target] } } }
  - id: release
    idp: github
    target: argo
    subject_pattern: "repo:acme/*"
    claims: { repository_visibility: { not: public } }
    condition: 'claims.ref.matches("^refs/heads/(main|release/[0-9.]+)$") && claims.runner_environment == "github-hosted"'
    namespaces: [ci]
    scopes: [argo:submit]
    examples:
      - { claims: { sub: "repo:acme/app:ref:refs/heads/main", ref: refs/heads/main, repository_visibility: private, runner_environment: github-hosted }, expect: issue }
      - { claims: { sub: "repo:acme/app:ref:refs/heads/dev", ref: refs/heads/dev, repository_visibility: private, runner_environment: github-hosted }, expect: deny }
`);

const claims = { sub: 'repo:acme/app:ref:refs/heads/release/1.2', ref: 'refs/heads/release/1.2', repository_visibility: 'private', runner_environment: 'github-hosted', event_name: 'push' };

function decide(overrides: Record<string, unknown>) {
  const decision = evaluatePolicy(config, { idp: 'github', claims: { ...claims, ...overrides }, target: 'argo', namespace: undefined, scopes: undefined });
  return decision.grant?.policy.id ?? firstFailure(decision.findings)?.code;
}

describe('the policy engine in workerd', () => {
  it('grants when the CEL condition and the operators hold', () => {
    expect(decide({})).toBe('release');
  });
  it('refuses when the CEL condition does not hold', () => {
    expect(decide({ runner_environment: 'self-hosted' })).toBe('ERR_POLICY_NO_MATCH');
  });
  it('refuses a negated claim value', () => {
    expect(decide({ repository_visibility: 'public' })).toBe('ERR_POLICY_NO_MATCH');
  });
  it('lets a deny policy win', () => {
    expect(decide({ event_name: 'pull_request_target' })).toBe('ERR_POLICY_DENIED');
  });
});
