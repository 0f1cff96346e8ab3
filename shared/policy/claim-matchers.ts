/**
 * Claim matchers: exact, any-of, all-of, negation, anchored glob, and the compile-time limits on
 * patterns. Pure: evaluation calls these with verified claims. CEL conditions are cel-condition.ts.
 */
import type { ClaimMatcher } from '../config/schema.ts';
import { matchGlob } from './glob.ts';

/** Bounds that keep one policy from costing more than a cheap match per request. */
export const COMPILE_LIMITS = {
  /** Longer patterns are not identities but accidents. */
  maxPatternLength: 512,
  /** Glob matching costs O(pattern × subject) at worst; few wildcards keep that tiny. */
  maxWildcards: 8,
  /** CEL: parse-time structural limits. */
  maxConditionNodes: 256,
  maxConditionDepth: 24,
} as const;

type Scalar = string | number | boolean;
export type ClaimOperators = { any_of?: Scalar[]; all_of?: Scalar[]; not?: Scalar | Scalar[]; pattern?: string | string[] };

export function isOperators(spec: ClaimMatcher): spec is ClaimOperators & ClaimMatcher {
  return typeof spec === 'object' && spec !== null && !Array.isArray(spec);
}

function isScalar(v: unknown): v is Scalar {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/** The claim's scalar values as strings (an array claim gives its scalar elements); [] when absent. */
function claimStrings(actual: unknown): string[] {
  const values = Array.isArray(actual) ? actual : [actual];
  return values.filter(isScalar).map(String);
}

/**
 * Whether a claim satisfies a matcher. An absent (or null, or object) claim matches nothing —
 * not even `not`: a negation is "present and none of these", so a missing claim never grants.
 */
export function matchClaimMatcher(spec: ClaimMatcher, actual: unknown): boolean {
  const values = claimStrings(actual);
  if (values.length === 0) return false;
  if (!isOperators(spec)) {
    const wanted = (Array.isArray(spec) ? spec : [spec]).map(String);
    return values.some((v) => wanted.includes(v));
  }
  if (spec.any_of) return values.some((v) => spec.any_of!.map(String).includes(v));
  if (spec.all_of) return spec.all_of.every((w) => values.includes(String(w)));
  if (spec.not !== undefined) {
    const excluded = (Array.isArray(spec.not) ? spec.not : [spec.not]).map(String);
    return values.every((v) => !excluded.includes(v));
  }
  if (spec.pattern !== undefined) {
    const patterns = Array.isArray(spec.pattern) ? spec.pattern : [spec.pattern];
    return values.some((v) => patterns.some((p) => matchGlob(p, v)));
  }
  return false;
}

/**
 * Whether a matcher cannot be decided for this claim: a negation (`not`) on an absent claim
 * (or one with no scalar value). "Present and none of these" is false, but "none of these" is
 * true: a deny policy must not read that as "does not apply". Every other matcher is decided by
 * absence (the token does not carry the listed value, as with any other value).
 */
export function undecidedWhenAbsent(spec: ClaimMatcher, actual: unknown): boolean {
  return isOperators(spec) && spec.not !== undefined && claimStrings(actual).length === 0;
}

/**
 * Why a glob pattern is refused, or undefined. `*`-only patterns are config.ts's concern. A
 * leading wildcard matches any prefix (another owner or project, say): refused unless
 * `boundElsewhere` (claims bind the identity too).
 */
export function patternProblem(pattern: string, boundElsewhere = false): string | undefined {
  if (/^\*+$/.test(pattern)) return undefined;
  if (pattern.length > COMPILE_LIMITS.maxPatternLength) return `longer than ${COMPILE_LIMITS.maxPatternLength} characters`;
  if (!boundElsewhere && (pattern.startsWith('*') || pattern.startsWith('?'))) {
    return 'starts with a wildcard, so it matches any prefix (another owner or project, say); start with literal text or bind claims too';
  }
  if (pattern.includes('**')) return '"**" is ambiguous here ("*" already matches any run, including "/"); use one "*"';
  const wildcards = [...pattern].filter((c) => c === '*').length;
  if (wildcards > COMPILE_LIMITS.maxWildcards) return `more than ${COMPILE_LIMITS.maxWildcards} "*" wildcards (catastrophic matching cost)`;
  return undefined;
}
