/**
 * The policy language beyond exact claims: operators, CEL conditions, deny policies, delegated
 * scopes, examples, and the compile step that refuses what evaluation must never see.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/config/parse-config.ts';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { type Config } from '../../shared/config/schema.ts';
import { wireErrorFor } from '../../shared/errors.ts';
import { evaluatePolicy, type PolicyRequest } from '../../shared/policy/evaluate-policy.ts';
import { firstFailure } from '../../shared/checks.ts';
import { matchClaimMatcher } from '../../shared/policy/claim-matchers.ts';
import { conditionOutcome, evaluateCondition } from '../../shared/policy/cel-condition.ts';

const HEAD = `
issuer: https://sts.example.com
signing: { keys: generate }
idps:
  - { name: github, issuer: https://token.actions.githubusercontent.com, audiences: [argo-sts], preset: github-actions }
  - { name: agents, issuer: https://agents.example.com, audiences: [argo-sts] }
  - { name: entra, issuer: "https://login.microsoftonline.com/8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b/v2.0", audiences: [3c1d9e8f-7a6b-4c5d-8e9f-0a1b2c3d4e5f], preset: entra, tenant_id: 8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b }
targets:
  - { name: prod, kind: kubernetes-oidc, audience: kubernetes }
  - { name: dev, kind: kubernetes-oidc, audience: kubernetes-dev }
policies:`;

function load(policies: string): Config {
  return parseConfigText(`${HEAD}${policies}\n`);
}

function issues(policies: string): string[] {
  try {
    load(policies);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
}

const CLAIMS = { iss: 'https://token.actions.githubusercontent.com', sub: 'repo:acme/app:ref:refs/heads/main', repository_owner: 'acme', ref: 'refs/heads/main', environment: 'prod', topics: ['deploy', 'argo'] };

function decide(config: Config, overrides: Partial<PolicyRequest> = {}) {
  const decision = evaluatePolicy(config, { idp: 'github', claims: CLAIMS, target: 'prod', namespace: undefined, scopes: undefined, ...overrides });
  const failure = firstFailure(decision.findings);
  return { decision, failure, code: failure?.code, policy: decision.grant?.policy.id ?? failure?.policy, scopes: decision.grant?.scopes };
}

describe('claim matchers', () => {
  it.each([
    [{ any_of: ['acme', 'globex'] }, 'globex', true, 'any_of matches one listed value'],
    [{ all_of: ['deploy', 'argo'] }, ['argo', 'deploy', 'x'], true, 'all_of needs every listed value in a list claim'],
    [{ all_of: ['deploy', 'argo'] }, ['deploy'], false, 'all_of fails when one listed value is missing'],
    [{ not: 'dev' }, 'prod', true, 'not matches a present claim outside the list'],
    [{ not: ['dev', 'test'] }, 'test', false, 'not refuses a listed value'],
    [{ not: 'dev' }, undefined, false, 'not never matches an absent claim'],
    [{ not: 'dev' }, ['prod', 'dev'], false, 'not refuses a list claim holding a listed value'],
    [{ pattern: 'refs/heads/release/*' }, 'refs/heads/release/1.2', true, 'pattern is an anchored glob'],
    [{ pattern: 'refs/heads/release/*' }, 'refs/tags/refs/heads/release/1', false, 'pattern does not match in the middle'],
    [{ pattern: ['refs/heads/main', 'refs/tags/v*'] }, 'refs/tags/v2', true, 'a pattern list is any-of'],
    ['true', true, true, 'a scalar matches as strings'],
    [['a', 'b'], { a: 1 }, false, 'objects never match'],
  ] as [unknown, unknown, boolean, string][])('%j against %j is %s: %s', (spec, actual, expected) => {
    expect(matchClaimMatcher(spec as never, actual)).toBe(expected);
  });
});

describe('CEL conditions', () => {
  it('sees claims, sub, iss and idp', () => {
    expect(evaluateCondition('claims.repository_owner == "acme" && sub.startsWith("repo:acme/") && idp == "github" && iss.endsWith(".com")', { claims: CLAIMS, idp: 'github' })).toBe(true);
  });
  it('fails closed when the expression errors on a missing claim', () => {
    expect(evaluateCondition('claims.missing == "x" || claims.other.startsWith("y")', { claims: CLAIMS, idp: 'github' })).toBe(false);
  });
  it('reports an expression that errors as not evaluated, with the reason, rather than as false', () => {
    expect(conditionOutcome('claims.missing == "x"', { claims: CLAIMS, idp: 'github' })).toEqual({ error: expect.stringMatching(/missing/) });
    expect(conditionOutcome('claims.repository_owner == "x"', { claims: CLAIMS, idp: 'github' })).toEqual({ holds: false });
  });
  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'])('evaluates over claims that include one named %s (claims reach CEL as plain data)', (name) => {
    const claims = JSON.parse(`{"repository_owner":"acme","${name}":"x","nested":{"${name}":"y","k":"v"}}`) as Record<string, unknown>;
    expect(conditionOutcome('claims.repository_owner == "acme" && claims.nested.k == "v"', { claims, idp: 'github' })).toEqual({ holds: true });
    expect(conditionOutcome(`claims["${name}"] == "x"`, { claims, idp: 'github' })).toEqual({ holds: true });
    expect(conditionOutcome('has(claims.valueOf) || has(claims.isPrototypeOf)', { claims: { sub: 'x' }, idp: 'github' })).toEqual({ holds: false });
  });
  it('serves a policy only when its condition holds', () => {
    const config = load(`
  - id: release
    idp: github
    target: prod
    subject_pattern: "repo:acme/*"
    condition: 'claims.ref.matches("^refs/heads/(main|release/[0-9.]+)$") && "deploy" in claims.topics'
    namespaces: [ci]
    scopes: [argo:submit]`);
    expect(decide(config).policy).toBe('release');
    expect(decide(config, { claims: { ...CLAIMS, ref: 'refs/heads/feature' } }).code).toBe('ERR_POLICY_NO_MATCH');
    expect(decide(config, { claims: { ...CLAIMS, ref: 'refs/heads/feature' } }).failure?.mismatches).toEqual([
      { field: 'condition', expected: expect.any(String), actual: false },
    ]);
  });
});

describe('deny policies are evaluated before allow policies', () => {
  const config = load(`
  - { id: allow-acme, idp: github, target: [prod, dev], subject_pattern: "repo:acme/*", namespaces: [ci, ops], scopes: [argo:submit, argo:read] }
  - { id: no-forks, effect: deny, idp: github, subject_pattern: "repo:acme/*", claims: { event_name: pull_request_target } }
  - { id: no-ops-submit, effect: deny, idp: github, subject_pattern: "repo:acme/*", target: prod, namespaces: [ops], scopes: [argo:submit] }`);

  it('a deny policy later in the file still refuses (ERR_POLICY_DENIED, check policy)', () => {
    const { code, policy, failure } = decide(config, { claims: { ...CLAIMS, event_name: 'pull_request_target' }, namespace: 'ci' });
    expect({ code, policy, check: failure?.check }).toEqual({ code: 'ERR_POLICY_DENIED', policy: 'no-forks', check: 'policy' });
    expect(wireErrorFor('ERR_POLICY_DENIED')).toBe('invalid_request');
  });
  it('a deny policy limited to target, namespace and scope refuses only that', () => {
    expect(decide(config, { namespace: 'ops', scopes: ['argo:submit'] }).code).toBe('ERR_POLICY_DENIED');
    expect(decide(config, { namespace: 'ops', scopes: ['argo:read'] }).policy).toBe('allow-acme');
    expect(decide(config, { target: 'dev', namespace: 'ops', scopes: ['argo:submit'] }).policy).toBe('allow-acme');
  });
  it('applies to the namespace and scopes a request gets by default, not only the ones it names', () => {
    expect(decide(config, { namespace: 'ops' }).code).toBe('ERR_POLICY_DENIED');
  });
});

describe('Entra groups overage', () => {
  const entraClaims = { iss: 'x', sub: 'bob', tid: '8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b', scp: 'Workflows.Submit', _claim_names: { groups: 'src1' } };
  it('a deny policy on groups cannot decide, so the request is refused with the reason (fail closed)', () => {
    const config = load(`
  - { id: contractors-out, effect: deny, idp: entra, claims: { groups: contractors } }
  - { id: bob, idp: entra, target: prod, subject: bob, namespaces: [ci], scopes: [argo:read] }`);
    const { code, policy } = decide(config, { idp: 'entra', claims: entraClaims });
    expect({ code, policy }).toEqual({ code: 'ERR_CLAIM_OVERAGE', policy: 'contractors-out' });
  });
  it('a policy on groups that cannot decide does not block another policy that matches', () => {
    const config = load(`
  - { id: admins, idp: entra, target: prod, claims: { groups: admins }, namespaces: [ci], scopes: [argo:manage] }
  - { id: bob, idp: entra, target: prod, subject: bob, namespaces: [ci], scopes: [argo:read] }`);
    expect(decide(config, { idp: 'entra', claims: entraClaims }).policy).toBe('bob');
  });
});

describe('delegation', () => {
  const config = load(`
  - id: people
    idp: github
    target: prod
    subject_pattern: "repo:acme/*"
    namespaces: [ci]
    scopes: [argo:manage, argo:submit, argo:read]
    delegation:
      actors:
        - { idp: agents, subject: agent-7, scopes: [argo:read] }
        - { idp: agents, claims: { team: platform }, condition: 'claims.tier == "trusted"' }`);
  const agent7 = { idp: 'agents', claims: { iss: 'https://agents.example.com', sub: 'agent-7' } };

  it('narrows an omitted scope to the scopes delegated to the actor', () => {
    expect(decide(config, { actor: agent7 }).scopes).toEqual(['argo:read']);
  });
  it('refuses a requested scope beyond the actor\'s delegation with invalid_scope', () => {
    expect(decide(config, { actor: agent7, scopes: ['argo:manage'] }).code).toBe('ERR_SCOPE_NOT_ALLOWED');
  });
  it('gives an actor without a scope list every scope of the policy, when its condition holds', () => {
    const trusted = { idp: 'agents', claims: { sub: 'bot', team: 'platform', tier: 'trusted' } };
    expect(decide(config, { actor: trusted }).scopes).toEqual(['argo:manage', 'argo:submit', 'argo:read']);
    expect(decide(config, { actor: { ...trusted, claims: { ...trusted.claims, tier: 'new' } } }).code).toBe('ERR_DELEGATION_DENIED');
  });
  it('refuses an actor from another idp claiming the same subject', () => {
    expect(decide(config, { actor: { idp: 'github', claims: { sub: 'agent-7' } } }).code).toBe('ERR_DELEGATION_DENIED');
  });
});

describe('examples run at every load', () => {
  const policy = (examples: string) => `
  - id: main
    idp: github
    target: prod
    subject: repo:acme/app:ref:refs/heads/main
    namespaces: [ci]
    scopes: [argo:submit]
    examples:${examples}`;

  it('loads when every example holds', () => {
    expect(issues(policy(`
      - { claims: { sub: "repo:acme/app:ref:refs/heads/main" }, expect: issue }
      - { claims: { sub: "repo:acme/app:ref:refs/heads/dev" }, expect: deny }
      - { claims: { sub: "repo:acme/app:ref:refs/heads/main" }, scope: "argo:manage", expect: deny }`))).toEqual([]);
  });
  it('fails the load, naming the example, when one does not hold', () => {
    expect(issues(policy(`
      - { claims: { sub: "repo:acme/app:ref:refs/heads/dev" }, expect: issue }`))).toEqual([
      expect.stringMatching(/^policies\[0\]\.examples\[0\]: expected issue, got deny \(policy: /),
    ]);
  });
  it('fails an issue example answered by an earlier policy', () => {
    expect(issues(`
  - { id: broad, idp: github, target: prod, subject_pattern: "repo:acme/*", namespaces: [ci], scopes: [argo:submit, argo:read] }${policy(`
      - { claims: { sub: "repo:acme/app:ref:refs/heads/main" }, expect: issue }`)}`)).toEqual([
      'policies[1].examples[0]: expected policy "main" to answer, but "broad" does (an earlier policy takes it)',
    ]);
  });
});

describe('the compile step refuses at load, naming the path', () => {
  const base = (extra: string) => `
  - id: p
    idp: github
    target: prod
    namespaces: [ci]
    scopes: [argo:read]
${extra}`;

  it.each([
    ['a subject_pattern starting with a wildcard', '    subject_pattern: "*:ref:refs/heads/main"', /^policies\[0\]\.subject_pattern: starts with a wildcard/],
    ['a "**" in a pattern', '    subject_pattern: "repo:acme/**"', /^policies\[0\]\.subject_pattern: "\*\*" is ambiguous/],
    ['a pattern with too many wildcards', '    subject_pattern: "repo:a*b*c*d*e*f*g*h*i*"', /^policies\[0\]\.subject_pattern: more than 8/],
    ['a claim matcher with two operators', '    claims: { ref: { not: dev, pattern: "refs/*" } }', /^policies\[0\]\.claims\.ref: ambiguous: a claim matcher takes exactly one/],
    ['a claim pattern matching every value', '    subject: x\n    claims: { ref: { pattern: "*" } }', /^policies\[0\]\.claims\.ref\.pattern: matches every value/],
    ['claims.sub next to subject', '    subject: x\n    claims: { sub: y }', /^policies\[0\]\.claims\.sub: ambiguous with subject/],
    ['a time claim', '    subject: x\n    claims: { exp: 1 }', /^policies\[0\]\.claims\.exp: exp is checked by verification/],
    ['CEL that does not parse', '    subject: x\n    condition: "claims.ref =="', /^policies\[0\]\.condition: /],
    ['CEL that is not boolean', '    subject: x\n    condition: "sub + \\"x\\""', /^policies\[0\]\.condition: evaluates to string, not bool/],
    ['CEL with an unknown variable', '    subject: x\n    condition: "user == 1"', /^policies\[0\]\.condition: Unknown variable: user/],
    ['an unanchored regular expression', "    subject: x\n    condition: 'claims.ref.matches(\"main\")'", /^policies\[0\]\.condition: matches\(\) pattern "main" must be anchored/],
    ['a catastrophic regular expression', "    subject: x\n    condition: 'claims.ref.matches(\"^(a+)+$\")'", /nests quantifiers/],
    ['a regular expression that is not a literal', "    subject: x\n    condition: 'claims.ref.matches(claims.re)'", /matches\(\) takes a string literal/],
  ])('%s', (_name, extra, problem) => {
    expect(issues(base(extra))).toEqual([expect.stringMatching(problem)]);
  });

  it('refuses a delegation scope outside the policy\'s scopes', () => {
    expect(issues(base(`    subject: x
    delegation: { actors: [{ idp: agents, subject: a, scopes: [argo:manage] }] }`))).toEqual([
      'policies[0].delegation.actors[0].scopes[0]: "argo:manage" is not one of the policy\'s scopes',
    ]);
  });
  it('refuses a policy that repeats an earlier one, which answers every request it could', () => {
    expect(issues(`${base('    subject: x')}${base('    subject: x').replace('id: p', 'id: q')}`)).toEqual([
      'policies[1]: unreachable: it repeats policies[0] ("p"), which answers every request it could',
    ]);
  });
  it('accepts a leading wildcard when claims bind the identity too', () => {
    expect(issues(base('    subject_pattern: "*:environment:prod"\n    claims: { repository_owner_id: "7654321" }'))).toEqual([]);
  });
  it('refuses grant fields on a deny policy and requires them on an allow policy', () => {
    expect(issues(`
  - { id: d, effect: deny, idp: github, subject: x, max_ttl: 5m }
  - { id: a, idp: github, subject: y }`)).toEqual([
      'policies[0].max_ttl: a deny policy grants nothing; remove it',
      'policies[1].target: required for an allow policy',
      'policies[1].namespaces: required for an allow policy',
      'policies[1].scopes: required for an allow policy',
    ]);
  });
});
