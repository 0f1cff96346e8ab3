/**
 * Reading a configuration document: YAML or JSON, parsed against the schema (schema.ts), then the
 * rules that span several parts of it (names, scopes, TTLs, targets). Every error names its path
 * (`policies[2].subject_pattern: ...`). The whole load — this, the policy compile step, the
 * presets' checks and the policy examples — is shared/broker/load-config.ts.
 */
import { parse as parseYaml } from 'yaml';
import { StartupError } from '../errors.ts';
import { BUILT_IN_SCOPES } from '../policy/scopes.ts';
import { formatDuration } from './duration.ts';
import { closestKey, describeSchemaIssue } from './config-messages.ts';
import { type Config, configSchema, LIMITS, type DenyPolicyConfig, type ParsedConfig, type PolicyConfig, type ScopeDefinition } from './schema.ts';

export class ConfigError extends StartupError {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super('ERR_CONFIG', `invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** `policies[2].subject_pattern` from a path array. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(root)';
}

/** Reads a YAML or JSON document (JSON is YAML); a syntax error is a ConfigError naming the document. */
export function readConfigText(text: string): unknown {
  try {
    return parseYaml(text, { prettyErrors: true, uniqueKeys: true, maxAliasCount: 50 });
  } catch (err) {
    throw new ConfigError([`(document): not valid YAML or JSON: ${yamlErrorLine(err as Error & { linePos?: readonly { line: number; col: number }[] })}`]);
  }
}

/** `line 4, column 13: Nested mappings are not allowed in compact mappings` (the parser ends its own with `at line 4, column 13:`). */
function yamlErrorLine(err: Error & { linePos?: readonly { line: number; col: number }[] }): string {
  const first = err.message.split('\n')[0]!.replace(/\s+at line \d+, column \d+:?\s*$/, '').replace(/:\s*$/, '');
  const at = err.linePos?.[0];
  return at ? `line ${at.line}, column ${at.col}: ${first}` : first;
}

/** What the schema and the cross-checks make of a document: the config, and every issue found. */
export interface CheckedConfig {
  readonly parsed: ParsedConfig;
  readonly config: Config;
  readonly issues: readonly string[];
}

/**
 * Parses a document against the schema (a schema failure throws: nothing typed to check further)
 * and runs the rules that span several parts of it, returning their issues rather than throwing,
 * so the loader can add the policy compiler's and the presets' and report every problem at once.
 */
export function checkConfigDocument(doc: unknown): CheckedConfig {
  const result = configSchema.safeParse(doc);
  if (!result.success) {
    throw new ConfigError(result.error.issues.flatMap((issue) => issue.code === 'unrecognized_keys'
      // Strict keys: one error per unknown key, each at its own path (`policies[2].bogus`), with the key it likely meant.
      ? issue.keys.map((key) => {
        const meant = closestKey(key, doc, issue.path);
        return `${formatPath([...issue.path, key])}: unknown key "${key}"${meant ? `; did you mean "${meant}"?` : ''}`;
      })
      : [`${formatPath(issue.path)}: ${describeSchemaIssue(issue, doc)}`]));
  }
  const issues: string[] = [];
  const config = crossCheck(result.data, issues);
  return { parsed: result.data, config, issues };
}

/** Rules that span several parts of the document. */
function crossCheck(parsed: ParsedConfig, issues: string[]): Config {
  const { defaults } = parsed;
  const overLimit = (at: string, value: number, limit: number) => `${at}: ${formatDuration(value)} is over the limit: at most ${formatDuration(limit)}`;
  if (defaults.max_ttl > LIMITS.maxTtlSeconds) issues.push(overLimit('defaults.max_ttl', defaults.max_ttl, LIMITS.maxTtlSeconds));
  if (defaults.max_ttl < 1) issues.push('defaults.max_ttl: must be positive');
  if (defaults.ttl < 1) issues.push('defaults.ttl: must be positive');
  if (defaults.ttl > defaults.max_ttl) issues.push('defaults.ttl: exceeds defaults.max_ttl');
  if (defaults.clock_skew > LIMITS.maxClockSkewSeconds) issues.push(overLimit('defaults.clock_skew', defaults.clock_skew, LIMITS.maxClockSkewSeconds));
  checkPublicIssuer(parsed, issues);

  const scopes = new Map<string, ScopeDefinition>(Object.entries(BUILT_IN_SCOPES));
  for (const [scope, def] of Object.entries(parsed.scopes ?? {})) {
    if (scopes.has(scope)) issues.push(`scopes.${scope}: redefines a built-in scope`);
    scopes.set(scope, def);
  }

  const idpNames = uniqueNames(parsed.idps, 'idps', issues);
  const issuers = new Set<string>();
  parsed.idps.forEach((idp, i) => {
    if (issuers.has(idp.issuer)) issues.push(`idps[${i}].issuer: another idp already has this issuer`);
    issuers.add(idp.issuer);
    if (idp.clock_skew !== undefined && idp.clock_skew > LIMITS.maxClockSkewSeconds) {
      issues.push(overLimit(`idps[${i}].clock_skew`, idp.clock_skew, LIMITS.maxClockSkewSeconds));
    }
  });
  const targetsByName = new Map(parsed.targets.map((t) => [t.name, t]));
  uniqueNames(parsed.targets, 'targets', issues);

  const policyIds = new Set<string>();
  const policies: PolicyConfig[] = [];
  const denyPolicies: DenyPolicyConfig[] = [];
  parsed.policies.forEach((policy, i) => {
    const at = `policies[${i}]`;
    if (policyIds.has(policy.id)) issues.push(`${at}.id: duplicate policy id "${policy.id}"`);
    policyIds.add(policy.id);
    if (!idpNames.has(policy.idp)) issues.push(`${at}.idp: no idp named "${policy.idp}"`);
    checkIdentityMatcher(policy, at, issues);
    const targets = policy.target === undefined ? undefined : typeof policy.target === 'string' ? [policy.target] : policy.target;
    if (policy.effect === 'deny') {
      for (const key of ['max_ttl', 'service_account', 'delegation'] as const) {
        if (policy[key] !== undefined) issues.push(`${at}.${key}: a deny policy grants nothing; remove it`);
      }
      targets?.forEach((name, j) => {
        if (!targetsByName.has(name)) issues.push(`${at}.target${typeof policy.target === 'string' ? '' : `[${j}]`}: no target named "${name}"`);
      });
      policy.scopes?.forEach((scope, j) => {
        if (!scopes.has(scope)) issues.push(`${at}.scopes[${j}]: unknown scope "${scope}"`);
      });
      const { target: _t, effect: _e, namespaces, scopes: denied, max_ttl: _m, service_account: _s, delegation: _d, ...identity } = policy;
      denyPolicies.push({ ...identity, targets, namespaces, scopes: denied });
      return;
    }
    if (!targets) issues.push(`${at}.target: required for an allow policy`);
    if (!policy.namespaces) issues.push(`${at}.namespaces: required for an allow policy`);
    if (!policy.scopes) issues.push(`${at}.scopes: required for an allow policy`);
    (targets ?? []).forEach((name, j) => {
      const where = typeof policy.target === 'string' ? `${at}.target` : `${at}.target[${j}]`;
      const target = targetsByName.get(name);
      if (!target) issues.push(`${where}: no target named "${name}"`);
      else if (target.kind === 'kubernetes-tokenrequest' && !policy.service_account) {
        issues.push(`${at}.service_account: required for kubernetes-tokenrequest target "${name}"`);
      }
      if (target?.kind === 'kubernetes-tokenrequest') checkTokenRequestTtl(policy.max_ttl, defaults, at, name, issues);
    });
    (policy.scopes ?? []).forEach((scope, j) => {
      if (!scopes.has(scope)) issues.push(`${at}.scopes[${j}]: unknown scope "${scope}"`);
    });
    if (policy.max_ttl !== undefined) {
      if (policy.max_ttl < 1) issues.push(`${at}.max_ttl: must be positive`);
      if (policy.max_ttl > defaults.max_ttl) {
        issues.push(`${at}.max_ttl: ${formatDuration(policy.max_ttl)} is over defaults.max_ttl ${formatDuration(defaults.max_ttl)}; lower it or raise defaults.max_ttl (at most ${formatDuration(LIMITS.maxTtlSeconds)})`);
      }
    }
    policy.delegation?.actors.forEach((actor, j) => {
      const where = `${at}.delegation.actors[${j}]`;
      if (!idpNames.has(actor.idp)) issues.push(`${where}.idp: no idp named "${actor.idp}"`);
      checkIdentityMatcher(actor, where, issues);
      actor.scopes?.forEach((scope, k) => {
        if (!(policy.scopes ?? []).includes(scope)) issues.push(`${where}.scopes[${k}]: "${scope}" is not one of the policy's scopes`);
      });
    });
    const { target: _target, effect: _effect, namespaces, scopes: granted, ...rest } = policy;
    policies.push({ ...rest, targets: targets ?? [], namespaces: namespaces ?? [], scopes: granted ?? [] });
  });
  return {
    issuer: parsed.issuer,
    signing: parsed.signing,
    defaults,
    scopes,
    idps: parsed.idps.map((idp) => ({ ...idp, clock_skew: idp.clock_skew ?? defaults.clock_skew })),
    targets: parsed.targets,
    policies,
    denyPolicies,
    audit: parsed.audit,
    diagnose: parsed.diagnose,
    rate_limit: parsed.rate_limit,
  };
}

function checkIdentityMatcher(
  m: { subject?: string | undefined; subject_pattern?: string | undefined; claims?: Record<string, unknown> | undefined },
  at: string,
  issues: string[],
): void {
  if (m.subject !== undefined && m.subject_pattern !== undefined) {
    issues.push(`${at}: set subject or subject_pattern, not both`);
  }
  const bindsClaims = m.claims !== undefined && Object.keys(m.claims).length > 0;
  if (m.subject === undefined && m.subject_pattern === undefined && !bindsClaims) {
    issues.push(`${at}: binds no identity; set subject, subject_pattern or claims`);
  }
  const glob = m.subject === undefined ? undefined : /[*?]/.exec(m.subject)?.[0];
  if (glob) {
    issues.push(`${at}.subject: "${m.subject}" is matched exactly, so "${glob}" matches only a literal "${glob}"; use subject_pattern for a glob`);
  }
  if (m.subject_pattern !== undefined && /^\**$/.test(m.subject_pattern) && !bindsClaims) {
    issues.push(`${at}.subject_pattern: "${m.subject_pattern}" matches every subject; bind claims too or narrow it`);
  }
}

/**
 * Development settings that are dangerous on a broker others can reach: throw-away signing keys
 * (every restart and every replica signs with other keys, so clusters refuse the tokens) and
 * `reveal: full` (/diagnose shows every policy to anyone). Allowed when the issuer is loopback or
 * a reserved name (RFC 2606, RFC 6761: .test, .example, .invalid, .localhost, example.com).
 */
function checkPublicIssuer(parsed: ParsedConfig, issues: string[]): void {
  if (!isPublicIssuer(parsed.issuer)) return;
  if (parsed.signing.keys === 'generate') {
    issues.push(`signing.keys: "generate" makes throw-away keys, for development only; issuer ${parsed.issuer} is a public address, where every restart and every replica would sign with other keys (clusters refuse the tokens): use env:, file: or aws-secrets-manager: (argo-sts keys generate)`);
  }
  if (parsed.diagnose.reveal === 'full') {
    issues.push(`diagnose.reveal: "full" shows every policy, audience and issuer to anyone who calls /diagnose; issuer ${parsed.issuer} is a public address: use verified (the default) or basic`);
  }
}

const RESERVED_SUFFIXES = ['.test', '.example', '.invalid', '.localhost', '.local', '.internal'];
const RESERVED_DOMAINS = ['example.com', 'example.net', 'example.org'];

/** True for an https issuer on a name others can reach (not loopback, not a reserved name). */
export function isPublicIssuer(issuer: string): boolean {
  let host: string;
  try {
    const url = new URL(issuer);
    if (url.protocol !== 'https:') return false;
    host = url.hostname.toLowerCase().replace(/\.$/, '');
  } catch {
    return false;
  }
  if (host === 'localhost' || host === '[::1]' || /^127\./.test(host)) return false;
  if (RESERVED_SUFFIXES.some((suffix) => host.endsWith(suffix) || host === suffix.slice(1))) return false;
  return !RESERVED_DOMAINS.some((domain) => host === domain || host.endsWith(`.${domain}`));
}

/**
 * Kubernetes refuses TokenRequest lifetimes under 600 s: the default lifetime and the ceiling of
 * a policy granting such a target must both reach it (a shorter requested_ttl is raised to 600 s).
 */
function checkTokenRequestTtl(maxTtl: number | undefined, defaults: { ttl: number; max_ttl: number }, at: string, target: string, issues: string[]): void {
  const min = LIMITS.minTokenRequestSeconds;
  if (defaults.ttl < min) issues.push(`defaults.ttl: at least ${min}s when a policy grants kubernetes-tokenrequest target "${target}" (${at})`);
  if ((maxTtl ?? defaults.max_ttl) < min) {
    issues.push(`${maxTtl === undefined ? 'defaults' : at}.max_ttl: at least ${min}s for kubernetes-tokenrequest target "${target}" (Kubernetes refuses shorter tokens)`);
  }
}

function uniqueNames(items: readonly { name: string }[], at: string, issues: string[]): Set<string> {
  const names = new Set<string>();
  items.forEach((item, i) => {
    if (names.has(item.name)) issues.push(`${at}[${i}].name: duplicate name "${item.name}"`);
    names.add(item.name);
  });
  return names;
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    if (value instanceof Map) {
      for (const v of value.values()) deepFreeze(v);
      // Object.freeze does not reach a Map's entries: its mutators must refuse too.
      for (const method of ['set', 'delete', 'clear'] as const) {
        Object.defineProperty(value, method, { value: refuseFrozenMutation });
      }
    } else {
      for (const v of Object.values(value)) deepFreeze(v);
    }
    Object.freeze(value);
  }
  return value;
}

function refuseFrozenMutation(): never {
  throw new TypeError('the configuration is frozen');
}
