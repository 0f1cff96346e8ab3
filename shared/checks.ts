/**
 * A finding is the outcome of one step of a check: what /diagnose shows and what /token turns
 * into its error. Verification and policy produce findings in verification order; /token
 * answers with the first failing one, /diagnose shows the worst one of each check.
 */
import { CHECK_IDS, type CheckId, type ErrorCode, StsError } from './errors.ts';

export type CheckStatus = 'pass' | 'fail' | 'warn' | 'skip';

export interface Finding {
  readonly check: CheckId;
  readonly status: CheckStatus;
  /** Set on failures: the error /token answers with. */
  readonly code?: ErrorCode;
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

export function pass(check: CheckId, message: string, extra: Partial<Finding> = {}): Finding {
  return { check, status: 'pass', message, ...extra };
}

export function fail(check: CheckId, code: ErrorCode, message: string, extra: Partial<Finding> = {}): Finding {
  return { check, status: 'fail', code, message, ...extra };
}

export function firstFailure(findings: readonly Finding[]): Finding | undefined {
  return findings.find((f) => f.status === 'fail');
}

/** The error /token answers with for a failed finding. */
export function findingError(finding: Finding): StsError {
  return new StsError(finding.code ?? 'ERR_INTERNAL', finding.message, { check: finding.check });
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
