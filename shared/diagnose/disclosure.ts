/** Disclosure: what a diagnosis shows of the configuration, by `diagnose.reveal` and the token. */
import { causeForCode, type HintFacts } from './catalogue.ts';
import { type Annotated, type DiagnosisCheck } from './diagnosis.ts';
import type { Config, IdpConfig } from '../config/schema.ts';
import { identityMismatches } from '../policy/evaluate-policy.ts';
import type { Claims } from '../verify/claims.ts';

/**
 * Whether anyone in the world can hold a genuine token of this idp's issuer: GitHub Actions' and
 * GitLab's presets, or `shared_issuer: true`. A verified signature then proves nothing about who
 * the holder is to this broker.
 */
export function isSharedIssuer(idp: Pick<IdpConfig, 'preset' | 'shared_issuer'>): boolean {
  return idp.preset === 'github-actions' || idp.preset === 'gitlab' || idp.shared_issuer === true;
}

/**
 * The policies of this idp that a shared issuer's token may see under `reveal: verified`: the
 * allow policies its identity matches, and the deny policies that refuse it (matched, or failing
 * only clauses they could not decide). Empty: the token learns no configured value at all.
 */
export function visiblePolicies(config: Config, idp: string, claims: Claims): Set<string> {
  const visible = new Set<string>();
  for (const p of config.policies) if (p.idp === idp && identityMismatches(p, idp, claims).length === 0) visible.add(p.id);
  for (const p of config.denyPolicies ?? []) {
    if (p.idp === idp && identityMismatches(p, idp, claims).every((m) => m.undecided !== undefined)) visible.add(p.id);
  }
  return visible;
}

/** Undisclosed, a hint names only facts about the token: configured values stay placeholders. */
export function tokenFactsOnly(facts: HintFacts | undefined): HintFacts {
  if (!facts) return {};
  const { expected: _expected, detail: _detail, ...rest } = facts;
  return rest;
}

/** A failure nothing more precise explained gets the cause its code stands for. */
export function withCodeCause(f: Annotated): Annotated {
  if (f.cause || f.status !== 'fail') return f;
  const cause = causeForCode(f.code);
  return cause ? { ...f, cause, facts: { ...f.facts, expected: f.policy } } : f;
}

export function present(f: Annotated, revealed: boolean): DiagnosisCheck {
  const showHint = f.cause !== undefined && (revealed || !f.cause.discloses);
  return {
    check: f.check,
    status: f.status,
    message: f.message,
    ...(revealed && f.expected !== undefined && { expected: f.expected }),
    ...(f.actual !== undefined && { actual: f.actual }),
    ...(f.seconds !== undefined && { seconds: f.seconds }),
    ...(f.leeway_seconds !== undefined && { leeway_seconds: f.leeway_seconds }),
    ...(showHint && { hint: f.cause!.hint(revealed ? (f.facts ?? {}) : tokenFactsOnly(f.facts)), cause: f.cause!.id }),
    ...(revealed && f.policy !== undefined && { policy: f.policy }),
    ...(revealed && f.mismatches !== undefined && { mismatches: f.mismatches }),
    ...(revealed && f.trace !== undefined && { trace: f.trace }),
  };
}
