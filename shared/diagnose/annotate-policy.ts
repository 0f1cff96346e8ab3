/** Policy, target, namespace and scope: the exchange's own evaluation, with the trace and near misses. */
import { causeById } from './catalogue.ts';
import type { Config, IdpConfig, PolicyConfig } from '../config/schema.ts';
import type { CheckId } from '../errors.ts';
import { evaluatePolicy, grantedTtl, identityMismatches, type Mismatch } from '../policy/evaluate-policy.ts';
import { fail, type Finding } from '../checks.ts';
import { verifyToken } from '../verify/verify-subject-token.ts';
import type { Claims } from '../verify/claims.ts';
import { type Annotated, type AuditFacts, type DiagnoseDeps, type PolicyTraceEntry } from './diagnosis.ts';
import type { LenientRequest } from './lenient-request.ts';

export async function evaluateRequest(
  deps: DiagnoseDeps,
  idp: IdpConfig,
  claims: Claims,
  request: LenientRequest,
  now: number,
  audit: AuditFacts,
  /** Shared issuers: the only policies this token may see (disclosure.ts); undefined: all of its idp's. */
  visible?: ReadonlySet<string>,
): Promise<Annotated[]> {
  const { config } = deps;
  const out: Annotated[] = [];
  const target = request.audience ?? (config.targets.length === 1 ? config.targets[0]!.name : undefined);
  audit.target = target;
  audit.namespace = request.namespace;
  audit.scopes = request.scopes;

  let actor: { idp: string; claims: Claims } | undefined;
  if (request.actorToken !== undefined) {
    const verified = await verifyToken(request.actorToken, { idps: config.idps, keys: deps.issuerKeys, crypto: deps.crypto, now });
    if ('failure' in verified) {
      out.push({ ...fail('policy', verified.failure.code ?? 'ERR_INTERNAL', `actor_token: ${verified.failure.message}`), cause: causeById('policy.actor-token') });
    } else {
      actor = { idp: verified.idp.name, claims: verified.claims };
    }
  }

  const shown = config.policies.filter((p) => p.idp === idp.name && (!visible || visible.has(p.id)));
  const trace = policyTrace(shown, idp.name, claims, target, request.namespace, request.scopes);
  // Target names a shared issuer's token may see: those of the policies it may see.
  const targetNames = visible ? config.targets.map((t) => t.name).filter((n) => shown.some((p) => p.targets.includes(n))) : config.targets.map((t) => t.name);
  const decision = evaluatePolicy(config, { idp: idp.name, claims, target: target ?? '', namespace: request.namespace, scopes: request.scopes, actor });
  const nearest = trace[0];
  audit.policy = decision.grant?.policy.id ?? decision.findings.find((f) => f.status === 'fail')?.policy;
  for (const f of decision.findings) {
    if (f.check === 'target' && target === undefined) continue;
    const delegation = f.code === 'ERR_DELEGATION_DENIED' && actor ? { mismatches: delegationMismatches(config, f.policy, actor) } : {};
    out.push(annotateRequestFinding({ ...f, ...delegation }, config, trace, target, decision.grant?.policy.id, targetNames));
  }
  if (target === undefined) {
    out.push({ ...fail('target', 'ERR_REQUEST_MALFORMED', 'audience is required: name the target (several are configured)'), cause: causeById('target.omitted') });
  }
  out.push(...requestOnlyFailures(config, out, target, request.scopes, targetNames));
  if (decision.malformed) {
    const namespaces = nearest && config.policies.find((p) => p.id === nearest.policy)?.namespaces;
    out.push({
      ...fail('namespace', 'ERR_REQUEST_MALFORMED', decision.malformed, { expected: namespaces }),
      cause: causeById('namespace.omitted'),
      facts: { expected: namespaces?.join(', ') },
    });
  }
  const grant = decision.grant;
  if (grant) {
    audit.namespace = grant.namespace;
    audit.scopes = grant.scopes;
    const ttl = grantedTtl(config, grant.policy, request.requestedTtl);
    if (request.requestedTtl !== undefined && ttl < request.requestedTtl) {
      out.push({
        check: 'scope',
        status: 'warn',
        message: `requested_ttl ${request.requestedTtl} s is capped: the token would live ${ttl} s`,
        actual: request.requestedTtl,
        expected: ttl,
        policy: grant.policy.id,
        cause: causeById('scope.ttl-capped'),
        facts: { actual: String(request.requestedTtl), expected: String(ttl) },
      });
    } else {
      const index = out.findIndex((f) => f.check === 'scope' && f.status === 'pass');
      if (index >= 0) out[index] = { ...out[index]!, message: `${out[index]!.message}; the token would live ${ttl} s` };
    }
  }
  return out;
}

export function annotateRequestFinding(
  f: Finding,
  config: Config,
  trace: readonly PolicyTraceEntry[],
  target: string | undefined,
  answering: string | undefined,
  targetNames: readonly string[] = config.targets.map((t) => t.name),
): Annotated {
  const list = (values: readonly string[] | undefined) => values?.map((v) => `\`${v}\``).join(', ');
  if (f.check === 'policy') {
    // The identity matched: the nearest policy is the answering one, or else the identity-matching
    // one with the fewest failing clauses (the trace's first), with those clauses.
    const nearest = f.status === 'pass' && (answering === undefined ? trace[0] : trace.find((t) => t.policy === answering));
    const withTrace = { ...f, trace, ...(nearest && { policy: nearest.policy, mismatches: nearest.mismatches }) };
    if (f.code === 'ERR_POLICY_NO_MATCH') return { ...withTrace, cause: causeById('policy.no-match'), facts: { expected: f.policy } };
    if (f.code === 'ERR_DELEGATION_DENIED') return { ...withTrace, cause: causeById('policy.delegation'), facts: { expected: f.policy } };
    return withTrace;
  }
  if (f.check === 'target') {
    if (f.code === 'ERR_TARGET_UNKNOWN') {
      const names = [...targetNames];
      return { ...f, expected: names, cause: causeById('target.unknown'), facts: { actual: target, expected: list(names) } };
    }
    if (f.code === 'ERR_TARGET_NOT_ALLOWED') {
      const allowed = [...new Set(trace.filter((t) => t.matches_identity).flatMap((t) => config.policies.find((p) => p.id === t.policy)?.targets ?? []))];
      return { ...f, expected: allowed, cause: causeById('target.not-allowed'), facts: { expected: list(allowed) } };
    }
    if (f.status === 'pass') return { ...f, cause: causeById('target.argo') };
    return f;
  }
  if (f.check === 'namespace' && f.code === 'ERR_NAMESPACE_NOT_ALLOWED') {
    return { ...f, cause: causeById('namespace.not-allowed'), facts: { expected: list(f.expected as string[] | undefined) } };
  }
  if (f.check === 'scope' && f.code === 'ERR_SCOPE_NOT_ALLOWED') {
    const unknown = f.expected === undefined;
    return { ...f, cause: causeById(unknown ? 'scope.unknown' : 'scope.not-allowed'), facts: { expected: list(f.expected as string[] | undefined) } };
  }
  return f;
}

/**
 * What is wrong with the request whoever presents it — an unknown target, an unknown scope — for
 * the checks policy evaluation stopped before (it stops at the first failure, as /token does).
 */
export function requestOnlyFailures(
  config: Config,
  out: readonly Annotated[],
  target: string | undefined,
  scopes: readonly string[] | undefined,
  targetNames: readonly string[] = config.targets.map((t) => t.name),
): Annotated[] {
  const ran = (check: CheckId) => out.some((f) => f.check === check);
  const extra: Annotated[] = [];
  if (target !== undefined && !ran('target') && !config.targets.some((t) => t.name === target)) {
    const names = [...targetNames];
    extra.push({
      ...fail('target', 'ERR_TARGET_UNKNOWN', `unknown audience "${target}"`, { actual: target, expected: names }),
      cause: causeById('target.unknown'),
      facts: { actual: target, expected: names.map((n) => `\`${n}\``).join(', ') },
    });
  }
  const unknown = scopes?.filter((s) => !config.scopes.has(s)) ?? [];
  if (unknown.length > 0 && !ran('scope')) {
    extra.push({ ...fail('scope', 'ERR_SCOPE_NOT_ALLOWED', `unknown scope ${unknown.map((s) => `"${s}"`).join(', ')}`, { actual: scopes }), cause: causeById('scope.unknown') });
  }
  return extra;
}

/** The failing clauses of the answering policy's nearest delegation rule for this actor. */
export function delegationMismatches(config: Config, policyId: string | undefined, actor: { idp: string; claims: Claims }): Mismatch[] {
  const actors = config.policies.find((p) => p.id === policyId)?.delegation?.actors ?? [];
  if (actors.length === 0) return [{ field: 'delegation', expected: 'a delegation.actors rule', actual: `${actor.idp}:${String(actor.claims.sub)}` }];
  const traces = actors.map((m, i) => identityMismatches(m, actor.idp, actor.claims).map((x) => ({ ...x, field: `delegation.actors[${i}].${x.field}` })));
  return traces.reduce((best, t) => (t.length < best.length ? t : best));
}

/**
 * Every policy's failing clauses for this identity and request: identity-matching policies
 * first, then by fewest failing clauses, ties in config order.
 */
export function policyTrace(
  policies: readonly PolicyConfig[],
  idp: string,
  claims: Claims,
  target: string | undefined,
  namespace: string | undefined,
  scopes: readonly string[] | undefined,
): PolicyTraceEntry[] {
  const entries = policies.map((policy, index) => {
    const identity = identityMismatches(policy, idp, claims);
    const mismatches: Mismatch[] = [...identity];
    if (target !== undefined && !policy.targets.includes(target)) mismatches.push({ field: 'target', expected: policy.targets, actual: target });
    if (namespace !== undefined && !policy.namespaces.includes(namespace)) mismatches.push({ field: 'namespaces', expected: policy.namespaces, actual: namespace });
    if (scopes !== undefined && !scopes.every((s) => policy.scopes.includes(s))) mismatches.push({ field: 'scopes', expected: policy.scopes, actual: scopes });
    return { index, entry: { policy: policy.id, matches_identity: identity.length === 0, mismatches } };
  });
  entries.sort((a, b) =>
    Number(b.entry.matches_identity) - Number(a.entry.matches_identity) ||
    a.entry.mismatches.length - b.entry.mismatches.length ||
    a.index - b.index);
  return entries.map((e) => e.entry);
}
