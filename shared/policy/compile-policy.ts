/**
 * The policy compile step, run at every config load: it rejects what evaluation must never see
 * (patterns that match a prefix or cost too much, ambiguous matchers, CEL that does not parse or
 * is not boolean, policies another one makes unreachable, broken `examples`), and turns claim
 * matchers and CEL conditions into functions that evaluation calls. Every error names its path.
 *
 * The matchers themselves live in policy-matchers.ts, cached by their source, so a config built
 * any way (parsed, or in a test) evaluates the same.
 */
import type { ClaimMatcher, Config, PolicyExample } from '../config/schema.ts';
import { evaluatePolicy } from './evaluate-policy.ts';
import { firstFailure } from '../checks.ts';
import { type ClaimOperators, isOperators, patternProblem } from './claim-matchers.ts';
import { compileCondition } from './cel-condition.ts';
import { inspectWithPreset } from '../verify/presets/index.ts';
import type { Claims } from '../verify/claims.ts';

/** Claims a policy may not bind: time claims are the verifier's business, not identity. */
const UNBINDABLE_CLAIMS = new Set(['exp', 'iat', 'nbf', 'auth_time', 'jti']);

// ---------------------------------------------------------------------------------------------
// Load-time checks
// ---------------------------------------------------------------------------------------------

interface MatcherShape {
  subject?: string | undefined;
  subject_pattern?: string | undefined;
  claims?: Record<string, ClaimMatcher> | undefined;
  condition?: string | undefined;
}

/** Checks one identity matcher (a policy's or a delegation actor's), pushing `<path>: <problem>`. */
export function compileIdentityMatcher(m: MatcherShape, at: string, issues: string[]): void {
  if (m.subject_pattern !== undefined) {
    const problem = patternProblem(m.subject_pattern, Object.keys(m.claims ?? {}).length > 0);
    if (problem) issues.push(`${at}.subject_pattern: ${problem}`);
  }
  for (const [name, spec] of Object.entries(m.claims ?? {})) {
    const where = `${at}.claims.${name}`;
    if (UNBINDABLE_CLAIMS.has(name)) issues.push(`${where}: ${name} is checked by verification, not bound by policies`);
    if ((name === 'sub' && (m.subject !== undefined || m.subject_pattern !== undefined))) {
      issues.push(`${where}: ambiguous with subject/subject_pattern; bind sub one way`);
    }
    if (!isOperators(spec)) continue;
    const operators = Object.keys(spec).filter((k) => spec[k as keyof ClaimOperators] !== undefined);
    if (operators.length !== 1) {
      issues.push(`${where}: ambiguous: a claim matcher takes exactly one of any_of, all_of, not, pattern (got ${operators.join(', ') || 'none'})`);
      continue;
    }
    const patterns = spec.pattern === undefined ? [] : Array.isArray(spec.pattern) ? spec.pattern : [spec.pattern];
    patterns.forEach((pattern, j) => {
      const problem = /^\*+$/.test(pattern) ? 'matches every value; drop the claim instead' : patternProblem(pattern);
      if (problem) issues.push(`${where}.pattern${Array.isArray(spec.pattern) ? `[${j}]` : ''}: ${problem}`);
    });
  }
  if (m.condition !== undefined) {
    const compiled = compileCondition(m.condition);
    if (typeof compiled !== 'function') issues.push(`${at}.condition: ${compiled.problem}`);
  }
}

/**
 * The compile step's issues for every policy and delegation actor: patterns, claim operators,
 * CEL conditions, then the rules across policies (unreachable repeats).
 */
export function compilePolicyIssues(policies: readonly RawPolicy[]): string[] {
  const issues: string[] = [];
  policies.forEach((policy, i) => {
    compileIdentityMatcher(policy, `policies[${i}]`, issues);
    policy.delegation?.actors.forEach((actor, j) => compileIdentityMatcher(actor, `policies[${i}].delegation.actors[${j}]`, issues));
  });
  issues.push(...checkPolicySet(policies));
  return issues;
}

interface RawPolicy {
  id: string;
  effect?: 'allow' | 'deny' | undefined;
  idp: string;
  target?: string | string[] | undefined;
  subject?: string | undefined;
  subject_pattern?: string | undefined;
  claims?: Record<string, ClaimMatcher> | undefined;
  condition?: string | undefined;
  namespaces?: string[] | undefined;
  scopes?: string[] | undefined;
  max_ttl?: number | undefined;
  delegation?: { actors: readonly MatcherShape[] } | undefined;
  examples?: PolicyExample[] | undefined;
}

function list(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : typeof value === 'string' ? [value] : value;
}

function identityKey(p: RawPolicy): string {
  return JSON.stringify([p.idp, p.subject ?? null, p.subject_pattern ?? null, p.claims ?? null, p.condition ?? null]);
}

/**
 * Rules across policies: an allow policy that repeats an earlier one (same identity matcher,
 * targets, namespaces, scopes, max_ttl and delegation) can never answer — refused as a mistake.
 * A later policy that is merely narrower is left alone: it may be there for documentation.
 */
export function checkPolicySet(policies: readonly RawPolicy[]): string[] {
  const issues: string[] = [];
  policies.forEach((later, j) => {
    if (later.effect === 'deny') return;
    for (let i = 0; i < j; i++) {
      const earlier = policies[i]!;
      if (earlier.effect === 'deny' || identityKey(earlier) !== identityKey(later)) continue;
      const same = (a: string[], b: string[]) => a.length === b.length && b.every((x) => a.includes(x));
      if (same(list(earlier.target), list(later.target)) && same(earlier.namespaces ?? [], later.namespaces ?? []) &&
        same(earlier.scopes ?? [], later.scopes ?? []) && earlier.max_ttl === later.max_ttl &&
        JSON.stringify(earlier.delegation ?? null) === JSON.stringify(later.delegation ?? null)) {
        issues.push(`policies[${j}]: unreachable: it repeats policies[${i}] ("${earlier.id}"), which answers every request it could`);
        break;
      }
    }
  });
  return issues;
}

/** Claims as verification would hand them to policy: the idp's preset normalizes them. */
function exampleClaims(config: Config, idpName: string, claims: Record<string, unknown>): Claims {
  const idp = config.idps.find((i) => i.name === idpName);
  const withIss = { iss: idp?.issuer, ...claims };
  return idp ? inspectWithPreset(withIss, idp).claims : withIss;
}

/**
 * Runs every policy's `examples` against the whole config (the selection rule included):
 * `expect: issue` holds when the request is granted by this very policy (for a deny policy: by
 * any policy), `expect: deny` when it is refused. Returns one issue per broken example.
 */
export function runPolicyExamples(config: Config, policies: readonly RawPolicy[]): string[] {
  const issues: string[] = [];
  policies.forEach((policy, i) => {
    policy.examples?.forEach((example, j) => {
      const at = `policies[${i}].examples[${j}]`;
      const idp = example.idp ?? policy.idp;
      const target = example.target ?? list(policy.target)[0] ?? (config.targets.length === 1 ? config.targets[0]!.name : undefined);
      if (target === undefined) {
        issues.push(`${at}.target: required (the policy names no single target)`);
        return;
      }
      const namespaces = policy.namespaces ?? [];
      const namespace = example.namespace ?? (namespaces.length > 1 ? namespaces[0] : undefined);
      const scopes = example.scope === undefined || example.scope.trim() === '' ? undefined : [...new Set(example.scope.split(' ').filter(Boolean))];
      const decision = evaluatePolicy(config, {
        idp,
        claims: exampleClaims(config, idp, example.claims),
        target,
        namespace,
        scopes,
        actor: example.actor && { idp: example.actor.idp, claims: exampleClaims(config, example.actor.idp, example.actor.claims) },
      });
      const failure = firstFailure(decision.findings);
      const granted = !failure && !decision.malformed && decision.grant !== undefined;
      const answeredBy = decision.grant?.policy.id;
      if (example.expect === 'issue' && !granted) {
        issues.push(`${at}: expected issue, got deny (${failure ? `${failure.check}: ${failure.message}` : decision.malformed})`);
      } else if (example.expect === 'issue' && policy.effect !== 'deny' && answeredBy !== policy.id) {
        issues.push(`${at}: expected policy "${policy.id}" to answer, but "${answeredBy}" does (an earlier policy takes it)`);
      } else if (example.expect === 'deny' && granted) {
        issues.push(`${at}: expected deny, got issue by policy "${answeredBy}"`);
      }
    });
  });
  return issues;
}
