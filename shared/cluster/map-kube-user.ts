/** claimMappings, claimValidationRules and userValidationRules, evaluated as kube-apiserver evaluates them. */
import type { JwtAuthenticator } from './kube-authn-model.ts';
import { type ClusterCheckId, clusterHint } from './cluster-catalogue.ts';
import { goString, goStringList } from './go-claims.ts';
import { celStringList, type CompiledExpression } from './kube-cel.ts';
import { AUTHENTICATED_GROUP, CREDENTIAL_ID_KEY, type Claims, type ClusterCheck, type KubeUser, type RuleOutcome, failWith, skip } from './cluster-diagnosis.ts';

/**
 * The user a request runs as once authenticated: the apiserver adds `system:authenticated` to
 * every authenticated user's groups (as `kubectl auth whoami` shows).
 */
export function authenticatedUser(user: KubeUser): KubeUser {
  return user.groups.includes(AUTHENTICATED_GROUP) ? user : { ...user, groups: [...user.groups, AUTHENTICATED_GROUP] };
}

export type Failure = { field: string; causeId: string; message: string; facts: Parameters<typeof clusterHint>[1] };

export function evalMapping(compiled: CompiledExpression | undefined, claims: Claims, field: string, failures: Failure[]): { ok: true; value: unknown } | { ok: false } {
  if (!compiled) return { ok: false };
  if (!compiled.ok) {
    failures.push({ field, causeId: compiled.kind === 'unsupported' ? 'cluster.cel.unsupported' : 'cluster.claim_mapping.expression-error', message: `${field}: ${compiled.problem}`, facts: { expected: compiled.expression, detail: compiled.problem } });
    return { ok: false };
  }
  const result = compiled.evaluate(claims);
  if (!result.ok) {
    failures.push({ field, causeId: 'cluster.claim_mapping.expression-error', message: `${field} expression \`${compiled.expression}\` failed: ${result.error}`, facts: { expected: compiled.expression, detail: result.error } });
    return { ok: false };
  }
  return result;
}

export function mapClaims(a: JwtAuthenticator, claims: Claims, checks: Map<ClusterCheckId, ClusterCheck>): KubeUser | undefined {
  const m = a.claimMappings;
  const failures: Failure[] = [];
  let username: string | undefined;
  /** The username claim is null: Go reads it as "", so the user is the bare prefix. */
  let nullUsername = false;
  if (m.username.expression !== undefined) {
    const r = evalMapping(m.username.compiled, claims, 'username', failures);
    if (r.ok) {
      if (typeof r.value !== 'string') failures.push({ field: 'username', causeId: 'cluster.claim_mapping.expression-error', message: 'username claim expression must return a string', facts: { expected: m.username.expression, detail: 'must return a string' } });
      else if (r.value === '') failures.push({ field: 'username', causeId: 'cluster.claim_mapping.expression-error', message: 'the username expression gives "": an empty username via CEL expression is not allowed', facts: { expected: m.username.expression, detail: 'evaluates to an empty string' } });
      else username = r.value;
    }
  } else if (m.username.claim) {
    const claim = m.username.claim;
    const value = claims[claim];
    const text = goString(value);
    if (value === undefined) {
      failures.push({ field: 'username', causeId: 'cluster.claim_mapping.username-missing', message: `username claim ${JSON.stringify(claim)} is not in the token`, facts: { expected: claim } });
    } else if (text === undefined) {
      failures.push({ field: 'username', causeId: 'cluster.claim_mapping.not-string', message: `username claim ${JSON.stringify(claim)} is a ${typeof value}, not a string`, facts: { detail: `claim ${claim} is a ${Array.isArray(value) ? 'list' : typeof value}` } });
    } else if (claim === 'email' && claims.email_verified !== undefined && claims.email_verified !== true) {
      failures.push({ field: 'username', causeId: 'cluster.claim_mapping.email-unverified', message: `the username claim is email and email_verified is ${JSON.stringify(claims.email_verified)}: "email not verified"`, facts: {} });
    } else {
      username = m.username.prefix ? m.username.prefix + text : text;
      nullUsername = value === null;
    }
  }

  let groups: string[] = [];
  if (m.groups.claim) {
    const value = claims[m.groups.claim];
    if (value !== undefined) {
      const values = goStringList(value);
      if (!values) failures.push({ field: 'groups', causeId: 'cluster.claim_mapping.not-string', message: `groups claim ${JSON.stringify(m.groups.claim)} is neither a string nor a list of strings`, facts: { detail: `claim ${m.groups.claim}` } });
      else groups = values.map((g) => (m.groups.prefix ? m.groups.prefix + g : g));
    }
  } else if (m.groups.expression !== undefined) {
    const r = evalMapping(m.groups.compiled, claims, 'groups', failures);
    if (r.ok) {
      const l = celStringList(r.value);
      if (l.ok) groups = l.values;
      else failures.push({ field: 'groups', causeId: 'cluster.claim_mapping.expression-error', message: `groups: ${l.error}`, facts: { expected: m.groups.expression, detail: l.error } });
    }
  }

  let uid = '';
  if (m.uid.claim) {
    const value = claims[m.uid.claim];
    const text = goString(value);
    if (text !== undefined) uid = text;
    else failures.push({ field: 'uid', causeId: value === undefined ? 'cluster.claim_mapping.username-missing' : 'cluster.claim_mapping.not-string', message: `uid claim ${JSON.stringify(m.uid.claim)} ${value === undefined ? 'is not in the token' : 'is not a string'}`, facts: { expected: m.uid.claim, detail: `claim ${m.uid.claim}` } });
  } else if (m.uid.expression !== undefined) {
    const r = evalMapping(m.uid.compiled, claims, 'uid', failures);
    if (r.ok) {
      if (typeof r.value === 'string') uid = r.value;
      else failures.push({ field: 'uid', causeId: 'cluster.claim_mapping.expression-error', message: 'uid claim expression must return a string', facts: { expected: m.uid.expression, detail: 'must return a string' } });
    }
  }

  const extra: Record<string, string[]> = {};
  // The apiserver (1.32+) names the credential of a token with a string jti in the user's extra.
  if (typeof claims.jti === 'string') extra[CREDENTIAL_ID_KEY] = [`JTI=${claims.jti}`];
  for (const e of m.extra) {
    const r = evalMapping(e.compiled, claims, `extra[${e.key}]`, failures);
    if (!r.ok) continue;
    const l = celStringList(r.value);
    if (!l.ok) failures.push({ field: `extra[${e.key}]`, causeId: 'cluster.claim_mapping.expression-error', message: `extra ${e.key}: ${l.error}`, facts: { expected: e.valueExpression, detail: l.error } });
    else if (l.values.length > 0) extra[e.key] = l.values;
  }

  if (failures.length > 0 || username === undefined) {
    const first = failures[0];
    checks.set('claim_mapping', first
      ? failWith('claim_mapping', first.causeId, failures.map((f) => f.message).join('; '), first.facts)
      : failWith('claim_mapping', 'cluster.config.invalid', 'claimMappings.username has neither a claim nor an expression'));
    return undefined;
  }
  const user: KubeUser = { username, groups, uid, extra };
  const how = m.username.expression !== undefined ? `expression \`${m.username.expression}\`` : `claim ${JSON.stringify(m.username.claim)}${m.username.prefix ? ` with prefix ${JSON.stringify(m.username.prefix)}` : ''}`;
  checks.set('claim_mapping', {
    check: 'claim_mapping', status: nullUsername ? 'warn' : 'pass',
    message: `${nullUsername ? `the username claim is null, which the apiserver reads as "": every such token is the user ${JSON.stringify(username)}; ` : ''}username ${JSON.stringify(username)} (${how}); ${groups.length} group${groups.length === 1 ? '' : 's'}${uid ? `; uid ${JSON.stringify(uid)}` : ''}${Object.keys(extra).length ? `; extra ${Object.keys(extra).join(', ')}` : ''}`,
    actual: user,
  });
  return user;
}

export function ruleOutcome(compiled: CompiledExpression | undefined, expression: string, value: Record<string, unknown>, message: string | undefined): RuleOutcome & { causeId?: string; detail?: string } {
  if (!compiled) return { rule: expression, status: 'error', message: 'not compiled', causeId: 'cluster.claim_validation.error', detail: 'not compiled' };
  if (!compiled.ok) {
    return compiled.kind === 'unsupported'
      ? { rule: expression, status: 'unsupported', message: `argo-sts cannot evaluate it: ${compiled.problem}`, causeId: 'cluster.cel.unsupported', detail: compiled.problem }
      : { rule: expression, status: 'error', message: `compilation failed: ${compiled.problem}`, causeId: 'cluster.claim_validation.error', detail: compiled.problem };
  }
  const result = compiled.evaluate(value);
  if (!result.ok) return { rule: expression, status: 'error', message: result.error, causeId: 'cluster.claim_validation.error', detail: result.error };
  if (typeof result.value !== 'boolean') return { rule: expression, status: 'error', message: 'validation expression must return a boolean', causeId: 'cluster.claim_validation.error', detail: 'must return a boolean' };
  if (!result.value) return { rule: expression, status: 'fail', message: message ? `false: ${message}` : 'false', detail: message };
  return { rule: expression, status: 'pass' };
}

export function validateClaims(a: JwtAuthenticator, claims: Claims, checks: Map<ClusterCheckId, ClusterCheck>): void {
  if (a.claimValidationRules.length === 0) {
    checks.set('claim_validation', { check: 'claim_validation', status: 'pass', message: 'no claim validation rules', rules: [] });
    return;
  }
  const rules: (RuleOutcome & { causeId?: string; detail?: string })[] = [];
  for (const rule of a.claimValidationRules) {
    if (rule.claim) {
      const value = claims[rule.claim];
      const text = goString(value);
      const label = `${rule.claim} == ${JSON.stringify(rule.requiredValue ?? '')}`;
      if (value === undefined) rules.push({ rule: label, status: 'fail', message: `required claim ${rule.claim} not present`, causeId: 'cluster.claim_validation.required-claim', detail: 'absent' });
      else if (text === undefined) rules.push({ rule: label, status: 'fail', message: `claim ${rule.claim} is a ${Array.isArray(value) ? 'list' : typeof value}; only strings match requiredValue`, causeId: 'cluster.claim_validation.required-claim', detail: JSON.stringify(value) });
      else if (text !== (rule.requiredValue ?? '')) rules.push({ rule: label, status: 'fail', message: `claim ${rule.claim} is ${JSON.stringify(value)}`, causeId: 'cluster.claim_validation.required-claim', detail: JSON.stringify(value) });
      else rules.push({ rule: label, status: 'pass' });
    } else if (rule.expression) {
      const outcome = ruleOutcome(rule.compiled, rule.expression, claims, rule.message);
      rules.push(outcome.status === 'fail' ? { ...outcome, causeId: 'cluster.claim_validation.rule-false' } : outcome);
    }
  }
  checks.set('claim_validation', rulesCheck('claim_validation', rules, 'claim validation rule'));
}

export function validateUser(a: JwtAuthenticator, user: KubeUser | undefined, checks: Map<ClusterCheckId, ClusterCheck>): void {
  if (a.userValidationRules.length === 0) {
    checks.set('user_validation', { check: 'user_validation', status: 'pass', message: 'no user validation rules', rules: [] });
    return;
  }
  if (!user) {
    checks.set('user_validation', skip('user_validation', 'no user: the claim mappings failed'));
    return;
  }
  const value = { username: user.username, uid: user.uid, groups: [...user.groups], extra: { ...user.extra } };
  const rules = a.userValidationRules.map((rule) => {
    const outcome = ruleOutcome(rule.compiled, rule.expression, value, rule.message);
    return outcome.status === 'fail' ? { ...outcome, causeId: 'cluster.user_validation.rule-false' } : outcome;
  });
  checks.set('user_validation', rulesCheck('user_validation', rules, 'user validation rule'));
}

export function rulesCheck(check: ClusterCheckId, rules: (RuleOutcome & { causeId?: string; detail?: string })[], noun: string): ClusterCheck {
  const clean: RuleOutcome[] = rules.map(({ rule, status, message }) => ({ rule, status, ...(message !== undefined && { message }) }));
  const bad = rules.find((r) => r.status !== 'pass');
  if (!bad) return { check, status: 'pass', message: `${rules.length} ${noun}${rules.length === 1 ? ' holds' : 's hold'}`, rules: clean };
  const failing = rules.filter((r) => r.status !== 'pass');
  const message = failing.map((r) => `\`${r.rule}\`: ${r.message ?? r.status}`).join('; ');
  const isRequired = bad.causeId === 'cluster.claim_validation.required-claim';
  return failWith(check, bad.causeId ?? 'cluster.claim_validation.error', `${failing.length} of ${rules.length} ${noun}${rules.length === 1 ? '' : 's'} ${failing.length === 1 ? 'does' : 'do'} not hold: ${message}`,
    isRequired ? { expected: bad.rule, actual: bad.detail } : { expected: bad.rule, detail: bad.detail }, { rules: clean });
}
