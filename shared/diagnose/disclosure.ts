/** Disclosure: what a diagnosis shows of the configuration, by `diagnose.reveal` and the token. */
import { causeForCode, type HintFacts } from './catalogue.ts';
import { type Annotated, type DiagnosisCheck } from './diagnosis.ts';

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
