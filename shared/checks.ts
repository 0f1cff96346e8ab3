/**
 * A finding is the outcome of one step of a check: what /diagnose shows and what /token turns
 * into its error. It is a union: a failing finding always carries its error code, a passing one
 * never does, so no failure can reach the wire without a code. Verification and policy produce findings in verification order; /token
 * answers with the first failing one, /diagnose shows the worst one of each check.
 */
import { CHECK_IDS, type CheckId, type ErrorCode, StsError } from './errors.ts';

export type CheckStatus = 'pass' | 'fail' | 'warn' | 'skip';

/** What every finding says, whatever its outcome. */
interface FindingFacts {
  readonly check: CheckId;
  /** Client-safe: facts about the presented token, never expected values or policy contents. */
  readonly message: string;
  /** Disclosed by /diagnose only under its disclosure rule. */
  readonly expected?: unknown;
  /** A fact about the presented token or request. */
  readonly actual?: unknown;
  readonly hint?: string;
  readonly seconds?: number;
  readonly leeway_seconds?: number;
  /** Policy check: the nearest policy and its failing clauses. */
  readonly policy?: string;
  readonly mismatches?: readonly { field: string; expected: unknown; actual: unknown }[];
}

/** A check that held (`warn`: held within a tolerance), or could not run. Carries no error code. */
export interface PassingFinding extends FindingFacts {
  readonly status: 'pass' | 'warn' | 'skip';
  readonly code?: undefined;
}

/** A check that failed: always with the code /token answers with. */
export interface FailingFinding extends FindingFacts {
  readonly status: 'fail';
  readonly code: ErrorCode;
}

export type Finding = PassingFinding | FailingFinding;

/** The extra facts a finding may carry beside its check, status, code and message. */
export type FindingExtra = Partial<Omit<FindingFacts, 'check' | 'message'>>;

export function pass(check: CheckId, message: string, extra: FindingExtra = {}): PassingFinding {
  return { check, status: 'pass', message, ...extra };
}

export function fail(check: CheckId, code: ErrorCode, message: string, extra: FindingExtra = {}): FailingFinding {
  return { check, status: 'fail', code, message, ...extra };
}

export function firstFailure(findings: readonly Finding[]): FailingFinding | undefined {
  return findings.find((f): f is FailingFinding => f.status === 'fail');
}

/** The error /token answers with for a failed finding. */
export function findingError(finding: FailingFinding): StsError {
  return new StsError(finding.code, finding.message, { check: finding.check });
}

const SEVERITY: Record<CheckStatus, number> = { skip: 0, pass: 1, warn: 2, fail: 3 };

/** One finding per check id, in the contract's order; `skip` where nothing ran. */
export function summarizeChecks(findings: readonly Finding[]): Finding[] {
  return CHECK_IDS.map((check) => {
    let worst: Finding | undefined;
    for (const f of findings) {
      if (f.check === check && (!worst || SEVERITY[f.status] > SEVERITY[worst.status])) worst = f;
    }
    return worst ?? { check, status: 'skip', message: 'not run: an earlier check failed' };
  });
}
