import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { type Config } from '../../shared/config/schema.ts';
import { evaluatePolicy, grantedTtl, identityMismatches, matchClaim, type PolicyRequest } from '../../shared/policy/evaluate-policy.ts';
import { wireErrorFor } from '../../shared/errors.ts';
import { firstFailure } from '../../shared/checks.ts';
import { CI_MAIN_POLICY_YAML, CI_READ_ANY_BRANCH_POLICY_YAML } from '../support/configs.ts';

const GITHUB = 'https://token.actions.githubusercontent.com';

const IDPS_AND_TARGETS = `
issuer: https://sts.example.com
signing: { alg: ES256, keys: env:SIGNING_KEYS }
defaults: { ttl: 10m, max_ttl: 1h, clock_skew: 60s }
idps:
  - { name: github, issuer: ${GITHUB}, audiences: [argo-sts], preset: github-actions }
  - { name: keycloak, issuer: https://keycloak.example.com/realms/platform, audiences: [argo-sts] }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
  - { name: argo-dev, kind: kubernetes-oidc, audience: kubernetes-dev }
  - { name: argo-staging, kind: kubernetes-oidc, audience: kubernetes-staging }
`;

const CI_MAIN = `
${CI_MAIN_POLICY_YAML}`;
const CI_READ = `
${CI_READ_ANY_BRANCH_POLICY_YAML}`;
const PEOPLE = `
  - id: people
    idp: keycloak
    target: argo-dev
    claims: { groups: [platform-engineers, sre] }
    namespaces: [dev]
    scopes: [argo:manage, argo:read]
    delegation:
      actors:
        - { idp: keycloak, subject: agent-7 }`;

function configWith(...policies: string[]): Config {
  return parseConfigText(`${IDPS_AND_TARGETS}policies:${policies.join('')}\n`);
}

/** ci-main first, then the broader branch policy, then people. */
const config = configWith(CI_MAIN, CI_READ, PEOPLE);

function github(sub: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: GITHUB, sub, repository_owner: 'acme', ...extra };
}
const MAIN = github('repo:acme/app:ref:refs/heads/main');
const FEATURE = github('repo:acme/app:ref:refs/heads/feature');
const ALICE = { iss: 'https://keycloak.example.com/realms/platform', sub: 'alice', groups: ['developers', 'sre'] };

function request(overrides: Partial<PolicyRequest>): PolicyRequest {
  return { idp: 'github', claims: MAIN, target: 'argo-prod', namespace: undefined, scopes: undefined, ...overrides };
}

type ClaimMatcherValue = Parameters<typeof matchClaim>[0];

describe('matchClaim: config scalars, lists and claim arrays', () => {
  it.each<[ClaimMatcherValue, unknown, boolean, string]>([
    ['acme', 'acme', true, 'equal strings match'],
    ['acme', 'Acme', false, 'matching is case-sensitive'],
    [true, true, true, 'true matches true'],
    [true, 'true', true, 'config true matches the string "true" (GitHub sends booleans as strings)'],
    ['true', true, true, 'config "true" matches the boolean true'],
    [false, 'true', false, 'false does not match "true"'],
    [42, '42', true, 'a number matches its decimal string'],
    ['42', 42, true, 'a string matches the number it spells'],
    [42, 42.5, false, 'different numbers do not match'],
    [['acme', 'globex'], 'globex', true, 'a config list is any-of'],
    [['acme', 'globex'], 'initech', false, 'a config list matches nothing outside it'],
    ['sre', ['developers', 'sre'], true, 'an array claim matches when any element matches'],
    ['sre', ['developers', 'ops'], false, 'an array claim without the value does not match'],
    [['admins', 'sre'], ['developers', 'sre'], true, 'a list against an array claim is any-of on both sides'],
    ['sre', [], false, 'an empty array claim matches nothing'],
    ['[object Object]', { toString: () => 'x' }, false, 'an object claim never matches, whatever it stringifies to'],
    ['[object Object]', {}, false, 'an empty object claim never matches'],
    ['sre', [['sre']], false, 'a nested array claim never matches'],
    ['sre', [{ name: 'sre' }], false, 'objects inside an array claim never match'],
    ['null', null, false, 'null never matches'],
    ['undefined', undefined, false, 'a missing claim never matches'],
  ])('%j against claim %j is %s: %s', (expected, actual, result) => {
    expect(matchClaim(expected, actual)).toBe(result);
  });
});

describe('identityMismatches: the clauses an identity fails', () => {
  const matcher = { idp: 'github', subject_pattern: 'repo:acme/*', claims: { repository_owner: 'acme', ref_protected: true } };

  it('is empty when idp, subject_pattern and every claim match', () => {
    expect(identityMismatches(matcher, 'github', github('repo:acme/app:ref:refs/heads/main', { ref_protected: 'true' }))).toEqual([]);
  });

  it('lists each failing clause with its expected and actual value, a missing claim as null', () => {
    expect(identityMismatches(matcher, 'gitlab', { sub: 'project_path:acme/app' })).toEqual([
      { field: 'idp', expected: 'github', actual: 'gitlab' },
      { field: 'subject_pattern', expected: 'repo:acme/*', actual: 'project_path:acme/app' },
      { field: 'claims.repository_owner', expected: 'acme', actual: null },
      { field: 'claims.ref_protected', expected: true, actual: null },
    ]);
  });

  it('compares subject exactly', () => {
    expect(identityMismatches({ idp: 'github', subject: 'repo:acme/app' }, 'github', { sub: 'repo:acme/app:ref:x' })).toEqual([
      { field: 'subject', expected: 'repo:acme/app', actual: 'repo:acme/app:ref:x' },
    ]);
  });

  it('does not let a subject_pattern match a non-string sub', () => {
    expect(identityMismatches({ idp: 'github', subject_pattern: '*x' }, 'github', { sub: ['ax'] })).toHaveLength(1);
  });

  it('does not read claims from the prototype chain', () => {
    expect(identityMismatches({ idp: 'github', claims: { constructor: 'function Object() { [native code] }' } }, 'github', { sub: 'x' })).toHaveLength(1);
  });
});

describe('evaluatePolicy: which policy answers', () => {
  it('answers with the first identity-matching policy in config order, with all its scopes when scope is omitted', () => {
    const decision = evaluatePolicy(config, request({}));
    expect(firstFailure(decision.findings)).toBeUndefined();
    expect(decision.grant).toMatchObject({ namespace: 'ci', scopes: ['argo:submit', 'argo:read'] });
    expect(decision.grant!.policy.id).toBe('ci-main');
    expect(decision.grant!.target.name).toBe('argo-prod');
  });

  it('lets the broader policy answer when it comes first in the config', () => {
    const reordered = configWith(CI_READ, CI_MAIN);
    const decision = evaluatePolicy(reordered, request({ namespace: 'ci' }));
    expect(decision.grant!.policy.id).toBe('ci-read-any-branch');
    expect(decision.grant!.scopes).toEqual(['argo:read']);
  });

  it('skips an earlier identity-matching policy that does not cover the requested scopes', () => {
    const reordered = configWith(CI_READ, CI_MAIN);
    const decision = evaluatePolicy(reordered, request({ namespace: 'ci', scopes: ['argo:submit'] }));
    expect(decision.grant!.policy.id).toBe('ci-main');
    expect(decision.grant!.scopes).toEqual(['argo:submit']);
  });

  it('skips an earlier identity-matching policy that does not allow the target', () => {
    const decision = evaluatePolicy(config, request({ target: 'argo-dev', namespace: 'staging' }));
    expect(decision.grant!.policy.id).toBe('ci-read-any-branch');
  });

  it('skips an earlier identity-matching policy that does not allow the namespace', () => {
    const decision = evaluatePolicy(config, request({ namespace: 'staging' }));
    expect(decision.grant).toMatchObject({ namespace: 'staging', scopes: ['argo:read'] });
    expect(decision.grant!.policy.id).toBe('ci-read-any-branch');
  });

  it('grants exactly the requested scopes, not all of the policy', () => {
    expect(evaluatePolicy(config, request({ scopes: ['argo:read'] })).grant!.scopes).toEqual(['argo:read']);
  });

  it('never serves a request from a union of policies: submit in staging is refused although one policy allows submit and another staging', () => {
    const decision = evaluatePolicy(config, request({ namespace: 'staging', scopes: ['argo:submit', 'argo:read'] }));
    expect(decision.grant).toBeUndefined();
    expect(firstFailure(decision.findings)).toMatchObject({ check: 'scope', code: 'ERR_SCOPE_NOT_ALLOWED' });
  });

  it('never serves a request from a union of policies: two scopes each allowed by a different policy are refused', () => {
    const split = configWith(
      CI_MAIN.replace('id: ci-main', 'id: submit-only').replace('scopes: [argo:submit, argo:read]', 'scopes: [argo:submit]'),
      CI_MAIN.replace('id: ci-main', 'id: view-only').replace('scopes: [argo:submit, argo:read]', 'scopes: [k8s:view]'),
    );
    expect(evaluatePolicy(split, request({ scopes: ['argo:submit'] })).grant!.policy.id).toBe('submit-only');
    expect(evaluatePolicy(split, request({ scopes: ['k8s:view'] })).grant!.policy.id).toBe('view-only');
    const both = evaluatePolicy(split, request({ scopes: ['argo:submit', 'k8s:view'] }));
    expect(both.grant).toBeUndefined();
    expect(firstFailure(both.findings)).toMatchObject({ check: 'scope', code: 'ERR_SCOPE_NOT_ALLOWED' });
  });

  it('answers with the first policy for the target and namespace, with all its scopes, when scope is omitted', () => {
    const decision = evaluatePolicy(config, request({ target: 'argo-dev', namespace: 'ci', claims: FEATURE }));
    expect(decision.grant).toMatchObject({ namespace: 'ci', scopes: ['argo:read'] });
  });
});

describe('evaluatePolicy: namespace', () => {
  it('uses the one namespace of the answering policy when namespace is omitted', () => {
    expect(evaluatePolicy(config, request({})).grant!.namespace).toBe('ci');
  });

  it('refuses as malformed a request omitting namespace when the answering policy allows several', () => {
    const decision = evaluatePolicy(config, request({ claims: FEATURE }));
    expect(decision.grant).toBeUndefined();
    expect(decision.malformed).toMatch(/namespace is required/);
  });

  it('refuses a namespace no identity-matching policy for the target allows, as a namespace failure', () => {
    const decision = evaluatePolicy(config, request({ namespace: 'kube-system' }));
    expect(decision.grant).toBeUndefined();
    const failure = firstFailure(decision.findings)!;
    expect(failure).toMatchObject({ check: 'namespace', code: 'ERR_NAMESPACE_NOT_ALLOWED', actual: 'kube-system' });
    expect(wireErrorFor(failure.code!)).toBe('invalid_scope');
  });
});

describe('evaluatePolicy: scope', () => {
  it('refuses an unknown scope as a scope failure', () => {
    const decision = evaluatePolicy(config, request({ scopes: ['argo:read', 'cluster:admin'] }));
    expect(decision.grant).toBeUndefined();
    const failure = firstFailure(decision.findings)!;
    expect(failure).toMatchObject({ check: 'scope', code: 'ERR_SCOPE_NOT_ALLOWED' });
    expect(failure.message).toContain('unknown scope "cluster:admin"');
    expect(wireErrorFor(failure.code!)).toBe('invalid_scope');
  });

  it('refuses a known scope the identity-matching policies do not allow', () => {
    const decision = evaluatePolicy(config, request({ scopes: ['argo:manage'] }));
    expect(decision.grant).toBeUndefined();
    expect(firstFailure(decision.findings)).toMatchObject({ check: 'scope', code: 'ERR_SCOPE_NOT_ALLOWED', actual: ['argo:manage'] });
  });
});

describe('evaluatePolicy: target', () => {
  it('refuses an unknown target', () => {
    const decision = evaluatePolicy(config, request({ target: 'argo-qa' }));
    const failure = firstFailure(decision.findings)!;
    expect(failure).toMatchObject({ check: 'target', code: 'ERR_TARGET_UNKNOWN', actual: 'argo-qa' });
    expect(wireErrorFor(failure.code!)).toBe('invalid_target');
  });

  it('refuses a known target that no identity-matching policy allows', () => {
    const decision = evaluatePolicy(config, request({ target: 'argo-staging' }));
    const failure = firstFailure(decision.findings)!;
    expect(failure).toMatchObject({ check: 'target', code: 'ERR_TARGET_NOT_ALLOWED', actual: 'argo-staging' });
    expect(wireErrorFor(failure.code!)).toBe('invalid_target');
  });

  it('refuses a target that only a policy for another identity allows', () => {
    // people allows argo-dev, but the main-branch policy does not; only the branch policy would
    const onlyMain = configWith(CI_MAIN, PEOPLE);
    expect(firstFailure(evaluatePolicy(onlyMain, request({ target: 'argo-dev' })).findings)).toMatchObject({ code: 'ERR_TARGET_NOT_ALLOWED' });
  });
});

describe('evaluatePolicy: no identity match', () => {
  it('refuses with a policy failure naming the nearest policy and its mismatches', () => {
    const decision = evaluatePolicy(config, request({ claims: github('repo:acme/app:ref:refs/heads/feature', { repository_owner: 'evil' }) }));
    expect(decision.grant).toBeUndefined();
    const failure = firstFailure(decision.findings)!;
    expect(failure).toMatchObject({ check: 'policy', code: 'ERR_POLICY_NO_MATCH', policy: 'ci-read-any-branch' });
    expect(failure.mismatches).toEqual([{ field: 'claims.repository_owner', expected: 'acme', actual: 'evil' }]);
    expect(wireErrorFor(failure.code!)).toBe('invalid_request');
  });

  it('breaks a tie for the nearest policy by config order', () => {
    // one failing clause each: ci-main on subject, ci-read-any-branch on subject_pattern
    const decision = evaluatePolicy(config, request({ claims: github('repo:other/app:ref:refs/heads/main') }));
    const failure = firstFailure(decision.findings)!;
    expect(failure.policy).toBe('ci-main');
    expect(failure.mismatches).toEqual([
      { field: 'subject', expected: 'repo:acme/app:ref:refs/heads/main', actual: 'repo:other/app:ref:refs/heads/main' },
    ]);
  });

  it('does not match a policy of another idp even when subject and claims would', () => {
    const decision = evaluatePolicy(config, request({ idp: 'keycloak' }));
    expect(firstFailure(decision.findings)).toMatchObject({ check: 'policy', code: 'ERR_POLICY_NO_MATCH' });
  });

  it('reports the policy check before the target: an unknown target with no identity match is a policy failure', () => {
    const decision = evaluatePolicy(config, request({ claims: github('repo:evil/app'), target: 'argo-qa' }));
    expect(decision.findings.map((f) => f.check)).toEqual(['policy']);
  });

  it('reports no nearest policy when the config has none', () => {
    const empty = configWith(' []');
    const failure = firstFailure(evaluatePolicy(empty, request({})).findings)!;
    expect(failure.code).toBe('ERR_POLICY_NO_MATCH');
    expect(failure.policy).toBeUndefined();
  });
});

describe('evaluatePolicy: findings of a granted request', () => {
  it('passes policy, target, namespace and scope in that order, naming the answering policy', () => {
    const decision = evaluatePolicy(config, request({ namespace: 'staging' }));
    expect(decision.findings.map((f) => [f.check, f.status])).toEqual([
      ['policy', 'pass'], ['target', 'pass'], ['namespace', 'pass'], ['scope', 'pass'],
    ]);
    expect(decision.findings.at(-1)!.policy).toBe('ci-read-any-branch');
  });
});

describe('evaluatePolicy: delegation (actor_token)', () => {
  const person = { idp: 'keycloak', claims: ALICE, target: 'argo-dev' };

  it('grants when the answering policy has a delegation rule matching the actor', () => {
    const decision = evaluatePolicy(config, request({ ...person, actor: { idp: 'keycloak', claims: { sub: 'agent-7' } } }));
    expect(decision.grant).toMatchObject({ namespace: 'dev', scopes: ['argo:manage', 'argo:read'] });
    expect(decision.grant!.policy.id).toBe('people');
  });

  it('refuses an actor the delegation rule does not name, as a policy failure', () => {
    const decision = evaluatePolicy(config, request({ ...person, actor: { idp: 'keycloak', claims: { sub: 'agent-8' } } }));
    expect(decision.grant).toBeUndefined();
    const failure = firstFailure(decision.findings)!;
    expect(failure).toMatchObject({ check: 'policy', code: 'ERR_DELEGATION_DENIED', policy: 'people' });
    expect(wireErrorFor(failure.code!)).toBe('invalid_request');
  });

  it('refuses an actor from another idp with the right subject', () => {
    const decision = evaluatePolicy(config, request({ ...person, actor: { idp: 'github', claims: { sub: 'agent-7' } } }));
    expect(firstFailure(decision.findings)).toMatchObject({ code: 'ERR_DELEGATION_DENIED' });
  });

  it('refuses any actor when the answering policy has no delegation rule', () => {
    const decision = evaluatePolicy(config, request({ actor: { idp: 'keycloak', claims: { sub: 'agent-7' } } }));
    expect(decision.grant).toBeUndefined();
    expect(firstFailure(decision.findings)).toMatchObject({ check: 'policy', code: 'ERR_DELEGATION_DENIED', policy: 'ci-main' });
  });

  it('checks delegation against the answering policy only, not a later one that allows the actor', () => {
    const withAgentPolicy = configWith(
      CI_MAIN,
      `${CI_MAIN.replace('id: ci-main', 'id: ci-main-agents')}
    delegation:
      actors:
        - { idp: keycloak, subject: agent-7 }`,
    );
    const decision = evaluatePolicy(withAgentPolicy, request({ actor: { idp: 'keycloak', claims: { sub: 'agent-7' } } }));
    expect(decision.grant).toBeUndefined();
    expect(firstFailure(decision.findings)).toMatchObject({ code: 'ERR_DELEGATION_DENIED', policy: 'ci-main' });
  });
});

describe('grantedTtl: min(requested or default ttl, policy max_ttl, defaults.max_ttl)', () => {
  const ciMain = config.policies[0]!; // max_ttl 15m
  const ciRead = config.policies[1]!; // no max_ttl

  it('grants the requested ttl under both caps', () => {
    expect(grantedTtl(config, ciMain, 300)).toBe(300);
  });

  it('caps the requested ttl at the policy max_ttl', () => {
    expect(grantedTtl(config, ciMain, 3600)).toBe(900);
  });

  it('caps the requested ttl at defaults.max_ttl when the policy has no max_ttl', () => {
    expect(grantedTtl(config, ciRead, 7200)).toBe(3600);
  });

  it('grants defaults.ttl when none is requested', () => {
    expect(grantedTtl(config, ciMain, undefined)).toBe(600);
  });

  it('caps defaults.ttl at a smaller policy max_ttl', () => {
    const short = configWith(CI_MAIN.replace('max_ttl: 15m', 'max_ttl: 5m'));
    expect(grantedTtl(short, short.policies[0]!, undefined)).toBe(300);
  });
});

describe('evaluatePolicy: deny policies fail closed', () => {
  const DENY_PUBLIC = `
  - id: private-only
    effect: deny
    idp: github
    subject_pattern: "repo:acme/*"
    claims: { repository_visibility: { not: private } }`;
  const DENY_PR = `
  - id: no-prs
    effect: deny
    idp: github
    subject_pattern: "repo:acme/*"
    condition: 'claims.event_name == "pull_request"'`;
  const DENY_FORKS = `
  - id: no-forks
    effect: deny
    idp: github
    subject_pattern: "repo:acme/*"
    claims: { event_name: pull_request }`;

  it('a deny policy with `not` refuses a token that leaves the claim out', () => {
    const decision = evaluatePolicy(configWith(DENY_PUBLIC, CI_MAIN), request({}));
    expect(firstFailure(decision.findings)).toMatchObject({ code: 'ERR_POLICY_DENIED', policy: 'private-only', message: expect.stringMatching(/absent/) });
  });

  it('a deny policy with `not` lets a token through whose claim is one of the listed values', () => {
    expect(evaluatePolicy(configWith(DENY_PUBLIC, CI_MAIN), request({ claims: { ...MAIN, repository_visibility: 'private' } })).grant?.policy.id).toBe('ci-main');
  });

  it('a deny policy whose condition cannot be evaluated refuses, naming why', () => {
    const decision = evaluatePolicy(configWith(DENY_PR, CI_MAIN), request({}));
    expect(firstFailure(decision.findings)).toMatchObject({ code: 'ERR_POLICY_DENIED', policy: 'no-prs', message: expect.stringMatching(/condition could not be evaluated/) });
  });

  it('a deny policy with a condition refuses although the token carries a claim named constructor', () => {
    const claims = JSON.parse(JSON.stringify({ ...MAIN, event_name: 'pull_request' }).replace(/}$/, ',"constructor":"x"}')) as Record<string, unknown>;
    expect(firstFailure(evaluatePolicy(configWith(DENY_PR, CI_MAIN), request({ claims })).findings)).toMatchObject({ code: 'ERR_POLICY_DENIED', policy: 'no-prs' });
  });

  it('a positive deny matcher on an absent claim does not apply (absence is one more value that is not listed)', () => {
    expect(evaluatePolicy(configWith(DENY_FORKS, CI_MAIN), request({})).grant?.policy.id).toBe('ci-main');
  });

  it('a deny policy of another idp never refuses, decided or not', () => {
    expect(evaluatePolicy(configWith(DENY_PUBLIC.replace('idp: github', 'idp: keycloak'), CI_MAIN), request({})).grant?.policy.id).toBe('ci-main');
  });

  it('an allow policy whose condition cannot be evaluated does not match, and the refusal says why', () => {
    const decision = evaluatePolicy(configWith(`${CI_MAIN}\n    condition: 'claims.runner_environment == "github-hosted"'`), request({}));
    expect(firstFailure(decision.findings)).toMatchObject({ code: 'ERR_POLICY_NO_MATCH', message: expect.stringMatching(/condition could not be evaluated/) });
  });
});
