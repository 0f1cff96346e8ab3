/**
 * CEL conditions of policies (@marcbachmann/cel-js: no dependencies, no eval, so it runs in
 * workerd), compiled once and cached by source; evaluated with verified claims.
 */
import { Environment } from '@marcbachmann/cel-js';
import type { Claims } from '../verify/claims.ts';
import { COMPILE_LIMITS } from './claim-matchers.ts';

// ---------------------------------------------------------------------------------------------

export interface ConditionInput {
  readonly claims: Claims;
  readonly idp: string;
}

/** A condition's outcome: whether it holds, or why it could not be evaluated. */
export type ConditionOutcome = { readonly holds: boolean } | { readonly error: string };

type Condition = (input: ConditionInput) => ConditionOutcome;

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
        const value: unknown = program({ claims: celClaims(claims), sub, iss, idp });
        return typeof value === 'boolean' ? { holds: value } : { error: 'the condition did not evaluate to a boolean' };
      } catch (err) {
        // An error (a missing claim, a type mismatch) is no answer: the caller decides what it means.
        return { error: (err instanceof Error ? err.message : String(err)).split('\n')[0]! };
      }
    };
  } catch (err) {
    result = { problem: (err as Error).message.split('\n')[0]! };
  }
  conditions.set(source, result);
  return result;
}

/**
 * Claims as CEL sees them: plain data, JSON objects as Maps. cel-js types a value by its
 * `constructor`, so a claim named `constructor` (or an inherited name) on a plain object would
 * make every expression over `claims` fail; a Map has no such keys. Cached per claims object.
 */
const celClaimsCache = new WeakMap<object, unknown>();

function toCelValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toCelValue);
  if (value !== null && typeof value === 'object') return new Map(Object.entries(value).map(([k, v]) => [k, toCelValue(v)]));
  return value;
}

function celClaims(claims: Claims): unknown {
  let converted = celClaimsCache.get(claims);
  if (converted === undefined) celClaimsCache.set(claims, (converted = toCelValue(claims)));
  return converted;
}

/** Evaluates a policy's CEL condition; a condition that failed to compile cannot be evaluated. */
export function conditionOutcome(source: string, input: ConditionInput): ConditionOutcome {
  const condition = compileCondition(source);
  return typeof condition === 'function' ? condition(input) : { error: condition.problem };
}

/** Whether a policy's CEL condition holds; one that cannot be evaluated does not. */
export function evaluateCondition(source: string, input: ConditionInput): boolean {
  const outcome = conditionOutcome(source, input);
  return 'holds' in outcome && outcome.holds;
}
