/**
 * Policy evaluation: pure, data in, decision and reasons out.
 *
 * Deny policies (`effect: deny`) are evaluated first: one that matches the identity and the
 * request refuses it, whatever allow policies say. Allow policies are evaluated in config order.
 * A policy matches the identity when its idp, `subject` or `subject_pattern`, every `claims`
 * matcher and its CEL `condition` match. The answering policy is the first identity-matching one
 * that allows the requested target, namespace and every requested scope: a request is never
 * served by a union of policies. With an actor, the answering policy's delegation must allow the
 * actor, and the grant is narrowed to the scopes delegated to it.
 */
import type { ActorMatcher, ClaimMatchers, Config, DenyPolicyConfig, PolicyConfig, TargetConfig } from '../config/schema.ts';
import { fail, type Finding, pass } from '../checks.ts';
import { matchGlob } from './glob.ts';
import { matchClaimMatcher, undecidedWhenAbsent } from './claim-matchers.ts';
import { conditionOutcome } from './cel-condition.ts';
import { inspectWithPreset, unavailableClaimFinding } from '../verify/presets/index.ts';
import type { Claims } from '../verify/claims.ts';
import { type ActorClaim, DEFAULT_MAX_CHAIN, mayActProblem, mintedChain, readChain, withChainClaims } from './delegation-chain.ts';

export interface PolicyRequest {
  readonly idp: string;
  readonly claims: Claims;
  /** The target name the client asked for (already defaulted when the config has one target). */
  readonly target: string;
  readonly namespace: string | undefined;
  readonly scopes: readonly string[] | undefined;
  readonly actor?: { readonly idp: string; readonly claims: Claims } | undefined;
  /**
   * Claims the token could not carry, as verification's preset found them (Entra's groups
   * overage); without it the idp's preset is asked again.
   */
  readonly unavailable?: Readonly<Record<string, string>> | undefined;
}

export interface Grant {
  readonly policy: PolicyConfig;
  readonly target: TargetConfig;
  readonly namespace: string;
  readonly scopes: readonly string[];
  /** The minted token's `act`: the actor over the subject token's own chain (delegation-chain.ts). */
  readonly act?: ActorClaim | undefined;
}

export interface Mismatch {
  readonly field: string;
  readonly expected: unknown;
  readonly actual: unknown;
  /**
   * Set when the clause could not be decided for this token (a `not` on an absent claim, a CEL
   * condition that could not be evaluated): why. An allow policy does not match; a deny policy refuses.
   */
  readonly undecided?: string;
}

export interface PolicyDecision {
  readonly findings: readonly Finding[];
  readonly grant?: Grant;
  /** Set when the request must be refused as malformed (namespace omitted with several allowed). */
  readonly malformed?: string;
}

type IdentityMatcher = Pick<ActorMatcher, 'idp' | 'subject' | 'subject_pattern' | 'claims' | 'condition'>;

/** The clauses of an identity matcher that the claims fail; empty when it matches. */
export function identityMismatches(matcher: IdentityMatcher, idp: string, claims: Claims): Mismatch[] {
  const out: Mismatch[] = [];
  if (matcher.idp !== idp) out.push({ field: 'idp', expected: matcher.idp, actual: idp });
  if (matcher.subject !== undefined && claims.sub !== matcher.subject) {
    out.push({ field: 'subject', expected: matcher.subject, actual: claims.sub });
  }
  if (matcher.subject_pattern !== undefined && !(typeof claims.sub === 'string' && matchGlob(matcher.subject_pattern, claims.sub))) {
    out.push({ field: 'subject_pattern', expected: matcher.subject_pattern, actual: claims.sub });
  }
  for (const [name, expected] of Object.entries(matcher.claims ?? ({} as ClaimMatchers))) {
    const actual = Object.hasOwn(claims, name) ? claims[name] : undefined;
    if (!matchClaimMatcher(expected, actual)) {
      out.push({ field: `claims.${name}`, expected, actual: actual ?? null, ...(undecidedWhenAbsent(expected, actual) && { undecided: `claim "${name}" is absent` }) });
    }
  }
  if (matcher.condition !== undefined) {
    const outcome = conditionOutcome(matcher.condition, { claims, idp });
    if ('error' in outcome) out.push({ field: 'condition', expected: matcher.condition, actual: null, undecided: `the condition could not be evaluated: ${outcome.error}` });
    else if (!outcome.holds) out.push({ field: 'condition', expected: matcher.condition, actual: false });
  }
  return out;
}

/**
 * Whether an allow policy serves this identity (matches its idp, subject and claims). Only such
 * identities spend the per-idp and per-subject rate-limit budgets: a stranger's genuine token
 * must not throttle the pipelines the policies serve.
 */
export function servesIdentity(config: Config, idp: string, claims: Claims): boolean {
  return config.policies.some((policy) => policy.idp === idp && identityMismatches(policy, idp, claims).length === 0);
}

type Scalar = string | number | boolean;

/**
 * A config scalar matches a claim scalar when both, as strings, are equal; a config list means
 * any-of; an array claim matches when any element matches. Objects and null never match.
 */
export function matchClaim(expected: Scalar | readonly Scalar[], actual: unknown): boolean {
  return matchClaimMatcher(expected as Scalar | Scalar[], actual);
}

/** The claims a policy binds that the token could not carry (see presets: Entra's groups overage). */
function undecidable(mismatches: readonly Mismatch[], unavailable: Readonly<Record<string, string>>): [string, string] | undefined {
  if (mismatches.length === 0) return undefined;
  const names = mismatches.map((m) => (m.field.startsWith('claims.') ? m.field.slice('claims.'.length) : undefined));
  if (!names.every((n) => n !== undefined && Object.hasOwn(unavailable, n))) return undefined;
  return [names[0]!, unavailable[names[0]!]!];
}

interface DenyScope {
  readonly target: string;
  readonly namespace: string | undefined;
  readonly scopes: readonly string[] | undefined;
}

/** A deny policy applies when it matches the identity and every dimension it restricts. */
function denyApplies(policy: DenyPolicyConfig, scope: DenyScope): boolean {
  if (policy.targets && !policy.targets.includes(scope.target)) return false;
  if (policy.namespaces && !(scope.namespace !== undefined && policy.namespaces.includes(scope.namespace))) return false;
  if (policy.scopes && !(scope.scopes !== undefined && scope.scopes.some((s) => policy.scopes!.includes(s)))) return false;
  return true;
}

/**
 * The first deny policy that refuses, or a finding for one that cannot decide: an unavailable
 * claim (groups overage), a `not` on an absent claim, a condition that cannot be evaluated. A
 * deny policy fails closed: every clause it fails is one it could not decide, so it refuses.
 */
function checkDenyPolicies(config: Config, request: PolicyRequest, scope: DenyScope, unavailable: Readonly<Record<string, string>>): Finding | undefined {
  for (const policy of config.denyPolicies ?? []) {
    if (!denyApplies(policy, scope)) continue;
    const mismatches = identityMismatches(policy, request.idp, request.claims);
    if (mismatches.length === 0) {
      return fail('policy', 'ERR_POLICY_DENIED', 'a deny policy refuses this identity for the request', { policy: policy.id });
    }
    const missing = undecidable(mismatches, unavailable);
    if (missing) return unavailableClaimFinding(missing[0], missing[1], policy.id);
    const isUnavailable = (m: Mismatch) => m.field.startsWith('claims.') && Object.hasOwn(unavailable, m.field.slice('claims.'.length));
    if (mismatches.every((m) => m.undecided !== undefined || isUnavailable(m))) {
      const why = mismatches.some((m) => m.field === 'condition' && m.undecided !== undefined)
        ? 'its condition could not be evaluated for this token'
        : 'a claim it binds is absent from the token';
      return fail('policy', 'ERR_POLICY_DENIED', `a deny policy refuses: ${why}`, { policy: policy.id, mismatches });
    }
  }
  return undefined;
}

/** What the idp's preset says the token could not carry, for a request that did not bring it from verification. */
function presetUnavailable(config: Config, request: PolicyRequest): Readonly<Record<string, string>> {
  const idp = config.idps.find((i) => i.name === request.idp);
  return idp ? inspectWithPreset(request.claims, idp).unavailable : {};
}

export function evaluatePolicy(config: Config, input: PolicyRequest): PolicyDecision {
  const chain = readChain(input.claims);
  if ('problem' in chain) return { findings: [fail('format', 'ERR_TOKEN_FORMAT', `subject token: ${chain.problem}`)] };
  const request: PolicyRequest = { ...input, claims: withChainClaims(input.claims, chain.subs) };
  const unavailable = input.unavailable ?? presetUnavailable(config, request);

  const denied = checkDenyPolicies(config, request, request, unavailable);
  if (denied) return { findings: [denied] };

  const traces = config.policies.map((policy) => ({ policy, mismatches: identityMismatches(policy, request.idp, request.claims) }));
  const matching = traces.filter((t) => t.mismatches.length === 0).map((t) => t.policy);

  if (matching.length === 0) {
    for (const trace of traces) {
      const missing = undecidable(trace.mismatches, unavailable);
      if (missing) return { findings: [unavailableClaimFinding(missing[0], missing[1], trace.policy.id)] };
    }
    const nearest = nearestPolicy(traces.filter((t) => t.policy.idp === request.idp));
    // A condition that could not be evaluated is a non-match; the refusal (and its audit) says so.
    const unevaluated = traces.some((t) => t.mismatches.some((m) => m.field === 'condition' && m.undecided !== undefined) && !t.mismatches.some((m) => m.field === 'idp'));
    const message = `no policy matches the token's identity${unevaluated ? " (a policy's condition could not be evaluated for this token)" : ''}`;
    return {
      findings: [fail('policy', 'ERR_POLICY_NO_MATCH', message, nearest && {
        policy: nearest.policy.id,
        mismatches: nearest.mismatches,
      })],
    };
  }
  const findings: Finding[] = [pass('policy', `${matching.length} polic${matching.length === 1 ? 'y matches' : 'ies match'} the token's identity`, {
    policy: matching[0]!.id,
  })];

  const target = config.targets.find((t) => t.name === request.target);
  if (!target) {
    findings.push(fail('target', 'ERR_TARGET_UNKNOWN', `unknown audience "${request.target}"`, { actual: request.target }));
    return { findings };
  }
  const forTarget = matching.filter((p) => p.targets.includes(target.name));
  if (forTarget.length === 0) {
    findings.push(fail('target', 'ERR_TARGET_NOT_ALLOWED', `no policy matching the token allows target "${target.name}"`, { actual: target.name }));
    return { findings };
  }
  findings.push(pass('target', `target "${target.name}" is allowed`, { actual: target.name }));

  let candidates = forTarget;
  if (request.namespace !== undefined) {
    candidates = forTarget.filter((p) => p.namespaces.includes(request.namespace!));
    if (candidates.length === 0) {
      findings.push(fail('namespace', 'ERR_NAMESPACE_NOT_ALLOWED', `namespace "${request.namespace}" is not allowed for this identity and target`, {
        actual: request.namespace,
        expected: forTarget[0]!.namespaces,
      }));
      return { findings };
    }
    // Named and allowed: said now, so a failing scope below does not hide it.
    findings.push(pass('namespace', `namespace "${request.namespace}" is allowed`, { actual: request.namespace, policy: candidates[0]!.id }));
  }

  const requested = request.scopes;
  let answering = candidates[0]!;
  if (requested !== undefined) {
    const unknown = requested.filter((s) => !config.scopes.has(s));
    if (unknown.length > 0) {
      findings.push(fail('scope', 'ERR_SCOPE_NOT_ALLOWED', `unknown scope ${unknown.map((s) => `"${s}"`).join(', ')}`, { actual: requested }));
      return { findings };
    }
    const covering = candidates.find((p) => requested.every((s) => p.scopes.includes(s)));
    if (!covering) {
      findings.push(fail('scope', 'ERR_SCOPE_NOT_ALLOWED', 'no single policy allows every requested scope for this target and namespace', {
        actual: requested,
        expected: candidates[0]!.scopes,
      }));
      return { findings };
    }
    answering = covering;
  }

  let namespace = request.namespace;
  if (namespace === undefined) {
    if (answering.namespaces.length !== 1) {
      return { findings, malformed: 'namespace is required: the matching policy allows several namespaces' };
    }
    namespace = answering.namespaces[0]!;
  }

  let scopes: readonly string[] = requested ?? answering.scopes;
  const act = mintedChain(request.actor && `${request.actor.idp}:${String(request.actor.claims.sub)}`, chain.act);
  const actors = chain.subs.length + (request.actor ? 1 : 0);
  const maxChain = answering.delegation?.max_chain ?? DEFAULT_MAX_CHAIN;
  if (actors > maxChain) {
    findings.push(fail('policy', 'ERR_DELEGATION_CHAIN_TOO_LONG', `the delegation chain would have ${actors} actors; the answering policy allows ${maxChain}`, { policy: answering.id }));
    return { findings };
  }
  if (request.actor) {
    const { actor } = request;
    const mayAct = mayActProblem(input.claims, actor.claims);
    if (mayAct) {
      findings.push(fail('policy', 'ERR_DELEGATION_DENIED', mayAct, { policy: answering.id }));
      return { findings };
    }
    const rule = answering.delegation?.actors.find((m) => identityMismatches(m, actor.idp, actor.claims).length === 0);
    if (!rule) {
      findings.push(fail('policy', 'ERR_DELEGATION_DENIED', 'the answering policy does not allow this actor to act for the subject', { policy: answering.id }));
      return { findings };
    }
    if (rule.scopes) {
      const delegable = rule.scopes;
      const beyond = scopes.filter((s) => !delegable.includes(s));
      if (requested !== undefined && beyond.length > 0) {
        findings.push(fail('scope', 'ERR_SCOPE_NOT_ALLOWED', `scope ${beyond.map((s) => `"${s}"`).join(', ')} is not delegated to this actor`, {
          actual: requested,
          expected: delegable,
          policy: answering.id,
        }));
        return { findings };
      }
      scopes = scopes.filter((s) => delegable.includes(s));
    }
  }

  const deniedAfter = checkDenyPolicies(config, request, { target: target.name, namespace, scopes }, unavailable);
  if (deniedAfter) {
    findings.push(deniedAfter);
    return { findings };
  }
  if (request.namespace === undefined) findings.push(pass('namespace', `namespace "${namespace}" is allowed`, { actual: namespace, policy: answering.id }));
  findings.push(pass('scope', `scopes ${scopes.join(' ')} are allowed`, { actual: scopes, policy: answering.id }));
  return { findings, grant: { policy: answering, target, namespace, scopes, act } };
}

/** The policy with the fewest failing identity clauses, ties by config order. */
function nearestPolicy<T extends { mismatches: Mismatch[] }>(traces: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const trace of traces) if (!best || trace.mismatches.length < best.mismatches.length) best = trace;
  return best;
}

/** TTL = min(requested or default ttl, policy max_ttl, defaults.max_ttl). */
export function grantedTtl(config: Config, policy: PolicyConfig, requested: number | undefined): number {
  return Math.min(requested ?? config.defaults.ttl, policy.max_ttl ?? config.defaults.max_ttl, config.defaults.max_ttl);
}
