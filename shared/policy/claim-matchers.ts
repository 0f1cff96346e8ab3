/**
 * What policies match with, compiled once and cached by source: claim matchers (exact, any-of,
 * all-of, negation, anchored glob) and CEL conditions (@marcbachmann/cel-js: no dependencies, no
 * eval, so it runs in workerd). Pure: evaluation calls these with verified claims.
 */
import { Environment } from '@marcbachmann/cel-js';
import type { ClaimMatcher } from '../config/schema.ts';
import { matchGlob } from './glob.ts';
import type { Claims } from '../verify/claims.ts';

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

// ---------------------------------------------------------------------------------------------
// CEL conditions
// ---------------------------------------------------------------------------------------------

export interface ConditionInput {
  readonly claims: Claims;
  readonly idp: string;
}

type Condition = (input: ConditionInput) => boolean;

const celEnvironment = new Environment({
  limits: { maxAstNodes: COMPILE_LIMITS.maxConditionNodes, maxDepth: COMPILE_LIMITS.maxConditionDepth, maxListElements: 256, maxMapEntries: 64, maxCallArguments: 8 },
})
  .registerVariable('claims', 'map')
  .registerVariable('sub', 'string')
  .registerVariable('iss', 'string')
  .registerVariable('idp', 'string');

const conditions = new Map<string, Condition | { problem: string }>();

/** A regular expression is refused when it is unanchored or nests quantifiers (ReDoS). */
function regexProblem(source: string): string | undefined {
  if (!source.startsWith('^') || !source.endsWith('$')) return `matches() pattern ${JSON.stringify(source)} must be anchored with ^ and $`;
  if (/\([^()]*[*+}][^()]*\)\s*[*+{?]/.test(source)) return `matches() pattern ${JSON.stringify(source)} nests quantifiers (catastrophic backtracking)`;
  try {
    new RegExp(source);
  } catch {
    return `matches() pattern ${JSON.stringify(source)} is not a valid regular expression`;
  }
  return undefined;
}

function checkMatchesCalls(source: string): string | undefined {
  const calls = [...source.matchAll(/\bmatches\s*\(/g)].length;
  const literal = /\bmatches\s*\(\s*(?:[^,()]*,\s*)?"((?:[^"\\]|\\.)*)"\s*\)/g;
  const literals = [...source.matchAll(literal)];
  if (literals.length !== calls) return 'matches() takes a string literal pattern';
  for (const [, raw] of literals) {
    const problem = regexProblem(JSON.parse(`"${raw}"`) as string);
    if (problem) return problem;
  }
  return undefined;
}

export function compileCondition(source: string): Condition | { problem: string } {
  const cached = conditions.get(source);
  if (cached) return cached;
  let result: Condition | { problem: string };
  try {
    const matchesProblem = checkMatchesCalls(source);
    if (matchesProblem) throw new Error(matchesProblem);
    const program = celEnvironment.parse(source);
    const checked = program.check();
    if (!checked.valid) throw new Error(checked.error?.message.split('\n')[0] ?? 'does not type-check');
    if (checked.type !== 'bool' && checked.type !== 'dyn') throw new Error(`evaluates to ${checked.type}, not bool`);
    result = ({ claims, idp }) => {
      try {
        const sub = typeof claims.sub === 'string' ? claims.sub : '';
        const iss = typeof claims.iss === 'string' ? claims.iss : '';
        // Fail closed: an error (a missing claim, a type mismatch) or a non-boolean is "no".
        return program({ claims, sub, iss, idp }) === true;
      } catch {
        return false;
      }
    };
  } catch (err) {
    result = { problem: (err as Error).message.split('\n')[0]! };
  }
  conditions.set(source, result);
  return result;
}

/** Evaluates a policy's CEL condition; a condition that failed to compile never holds. */
export function evaluateCondition(source: string, input: ConditionInput): boolean {
  const condition = compileCondition(source);
  return typeof condition === 'function' && condition(input);
}
