/**
 * CEL as kube-apiserver evaluates it for JWT authenticators: expressions over `claims` (a map of
 * the verified token's claims) or `user` (the mapped kubernetes.UserInfo: username, uid, groups,
 * extra), on @marcbachmann/cel-js (no eval, so it runs in workerd and the browser too).
 *
 * Where cel-js and the apiserver's cel-go environment differ, this module follows Kubernetes:
 *   - JSON integers in claims are CEL ints (the apiserver decodes claims into int64 where it can),
 *     so `claims.exp - claims.iat <= 600` is int arithmetic; other numbers are doubles;
 *   - `claims.missing` is an evaluation error ("no such key"), as in cel-go, and so fails the
 *     token, while `has(claims.missing)` is false; optional types (`claims.?x.orValue(..)`) are on;
 *   - the string extension functions Kubernetes enables that cel-js lacks (`replace`, `charAt`,
 *     `reverse`, `find`, `findAll`) are registered here.
 * An expression using something neither provides (a Kubernetes library such as `url()` or
 * `sets.*`) compiles to an `unsupported` result: the caller says so, never guesses a verdict.
 * Pure: compile once, evaluate with plain data, no clock, no I/O.
 */
import { Environment } from '@marcbachmann/cel-js';

/** Parse-time bounds: an authentication rule is a one-liner; these stop pathological input. */
export const KUBE_CEL_LIMITS = {
  maxExpressionChars: 4096,
  maxAstNodes: 1024,
  maxDepth: 48,
} as const;

export type CelVariable = 'claims' | 'user';

export type CompiledExpression =
  | {
    readonly ok: true;
    readonly expression: string;
    /** The checked output type (`bool`, `string`, `list<string>`, `dyn`, ...). */
    readonly type: string;
    /** Whether the expression selects `claims.email` / `claims.email_verified` (apiserver validation). */
    readonly usesEmail: boolean;
    readonly usesEmailVerified: boolean;
    readonly evaluate: (value: Record<string, unknown>) => EvalResult;
  }
  | { readonly ok: false; readonly expression: string; readonly kind: 'invalid' | 'unsupported'; readonly problem: string };

export type EvalResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string };

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function addKubernetesStrings(env: Environment): Environment {
  return env
    .registerFunction('string.replace(string, string): string', (s: string, from: string, to: string) => s.split(from).join(to))
    .registerFunction('string.replace(string, string, int): string', (s: string, from: string, to: string, n: bigint) => {
      if (n < 0n) return s.split(from).join(to);
      let out = s;
      let index = 0;
      for (let i = 0n; i < n; i++) {
        const at = out.indexOf(from, index);
        if (at < 0) break;
        out = out.slice(0, at) + to + out.slice(at + from.length);
        index = at + to.length;
      }
      return out;
    })
    .registerFunction('string.charAt(int): string', (s: string, i: bigint) => {
      const chars = [...s];
      if (i < 0n || i > BigInt(chars.length)) throw new Error(`index out of range: ${i}`);
      return chars[Number(i)] ?? '';
    })
    .registerFunction('string.reverse(): string', (s: string) => [...s].reverse().join(''))
    .registerFunction('string.find(string): string', (s: string, re: string) => new RegExp(re).exec(s)?.[0] ?? '')
    .registerFunction('string.findAll(string): list<string>', (s: string, re: string) => [...s.matchAll(new RegExp(re, 'g'))].map((m) => m[0]));
}

function baseEnvironment(): Environment {
  return addKubernetesStrings(new Environment({
    enableOptionalTypes: true,
    limits: { maxAstNodes: KUBE_CEL_LIMITS.maxAstNodes, maxDepth: KUBE_CEL_LIMITS.maxDepth, maxListElements: 256, maxMapEntries: 64, maxCallArguments: 8 },
  }));
}

const ENVIRONMENTS: Record<CelVariable, Environment> = {
  claims: baseEnvironment().registerVariable('claims', 'map'),
  user: baseEnvironment()
    .registerType('kubernetes.UserInfo', { fields: { username: 'string', uid: 'string', groups: 'list<string>', extra: 'map<string, list<string>>' } })
    .registerVariable('user', 'kubernetes.UserInfo'),
};

const UNSUPPORTED = /no matching overload|Unknown variable|unknown function|not supported/i;

/** Compiles an expression over `claims` or `user`. Never throws. */
export function compileKubeCel(expression: string, variable: CelVariable): CompiledExpression {
  if (expression.length > KUBE_CEL_LIMITS.maxExpressionChars) {
    return { ok: false, expression, kind: 'invalid', problem: `longer than ${KUBE_CEL_LIMITS.maxExpressionChars} characters` };
  }
  let program: ReturnType<Environment['parse']>;
  try {
    program = ENVIRONMENTS[variable].parse(expression);
  } catch (err) {
    return { ok: false, expression, kind: 'invalid', problem: firstLine(err) };
  }
  const checked = program.check();
  if (!checked.valid) {
    const problem = firstLine(checked.error);
    // An unknown function may well be one of the Kubernetes CEL libraries (url, ip, sets, lists, ...).
    return { ok: false, expression, kind: UNSUPPORTED.test(problem) ? 'unsupported' : 'invalid', problem };
  }
  return {
    ok: true,
    expression,
    type: String(checked.type),
    usesEmail: selects(expression, 'email'),
    usesEmailVerified: selects(expression, 'email_verified'),
    evaluate: (value) => {
      try {
        return { ok: true, value: fromCel(program(toCelContext(variable, value))) };
      } catch (err) {
        return { ok: false, error: firstLine(err) };
      }
    },
  };
}

/**
 * Whether the expression selects `claims.<field>` (also `claims.?field`, `claims["field"]`).
 * The apiserver walks the AST; outside string literals these spellings are the same thing.
 */
function selects(expression: string, field: string): boolean {
  const code = expression.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, (literal) => (/^["'][a-z_]+["']$/.test(literal) ? literal : '""'));
  const f = escapeRegExp(field);
  return new RegExp(`\\bclaims\\s*\\.\\s*\\??\\s*${f}\\b|\\bclaims\\s*\\[\\s*\\??\\s*["']${f}["']\\s*\\]`).test(code);
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : typeof err === 'object' && err !== null && 'message' in err ? String((err as { message: unknown }).message) : String(err);
  return message.split('\n')[0]!.trim();
}

/** JSON (claims, user info) to CEL values: integral numbers become ints. */
export function toCel(value: unknown): unknown {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toCel(v);
    return out;
  }
  return value;
}

function toCelContext(variable: CelVariable, value: Record<string, unknown>): Record<string, unknown> {
  return { [variable]: toCel(value) };
}

/** CEL results back to JSON-ish values (ints as numbers when safe). */
function fromCel(value: unknown): unknown {
  if (typeof value === 'bigint') return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  if (Array.isArray(value)) return value.map(fromCel);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), fromCel(v)]));
  if (value !== null && typeof value === 'object' && !(value instanceof Date) && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = fromCel(v);
    return out;
  }
  return value;
}

/**
 * A mapping result as the apiserver reads it: a string, or a list of strings ("" and [] mean
 * absent; empty strings in a list are dropped); null is absent. Anything else is an error.
 */
export function celStringList(value: unknown): { ok: true; values: string[] } | { ok: false; error: string } {
  if (value === null || value === undefined) return { ok: true, values: [] };
  if (typeof value === 'string') return { ok: true, values: value === '' ? [] : [value] };
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return { ok: true, values: value.filter((v) => v !== '') };
  return { ok: false, error: 'expression must return a string or a list of strings' };
}
