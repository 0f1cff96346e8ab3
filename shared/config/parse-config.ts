/**
 * Reading a configuration document: YAML or JSON, parsed against the schema (schema.ts), then the
 * rules that span several parts of it (names, scopes, TTLs, targets). Every error names its path
 * (`policies[2].subject_pattern: ...`). The whole load — this, the policy compile step, the
 * presets' checks and the policy examples — is shared/broker/load-config.ts.
 */
import { parse as parseYaml } from 'yaml';
import { StartupError } from '../errors.ts';
import { BUILT_IN_SCOPES } from '../policy/scopes.ts';
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
    throw new ConfigError([`(document): not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`]);
  }
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
      // Strict keys: one error per unknown key, each at its own path (`policies[2].bogus`).
      ? issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key "${key}"`)
      : [`${formatPath(issue.path)}: ${issue.message}`]));
  }
  const issues: string[] = [];
  const config = crossCheck(result.data, issues);
  return { parsed: result.data, config, issues };
}

/** Rules that span several parts of the document. */
function crossCheck(parsed: ParsedConfig, issues: string[]): Config {
  const { defaults } = parsed;
  if (defaults.max_ttl > LIMITS.maxTtlSeconds) issues.push(`defaults.max_ttl: at most ${LIMITS.maxTtlSeconds}s`);
  if (defaults.max_ttl < 1) issues.push('defaults.max_ttl: must be positive');
  if (defaults.ttl < 1) issues.push('defaults.ttl: must be positive');
  if (defaults.ttl > defaults.max_ttl) issues.push('defaults.ttl: exceeds defaults.max_ttl');
  if (defaults.clock_skew > LIMITS.maxClockSkewSeconds) issues.push(`defaults.clock_skew: at most ${LIMITS.maxClockSkewSeconds}s`);

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
      issues.push(`idps[${i}].clock_skew: at most ${LIMITS.maxClockSkewSeconds}s`);
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
      for (const key of ['max_ttl', 'service_account', 'delegation', 'approval'] as const) {
        if (policy[key] !== undefined) issues.push(`${at}.${key}: a deny policy grants nothing; remove it`);
      }
      targets?.forEach((name, j) => {
        if (!targetsByName.has(name)) issues.push(`${at}.target${typeof policy.target === 'string' ? '' : `[${j}]`}: no target named "${name}"`);
      });
      policy.scopes?.forEach((scope, j) => {
        if (!scopes.has(scope)) issues.push(`${at}.scopes[${j}]: unknown scope "${scope}"`);
      });
      const { target: _t, effect: _e, namespaces, scopes: denied, max_ttl: _m, service_account: _s, delegation: _d, approval: _a, ...identity } = policy;
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
      if (policy.max_ttl > defaults.max_ttl) issues.push(`${at}.max_ttl: exceeds defaults.max_ttl`);
    }
    policy.approval?.approvers.forEach((approver, j) => {
      const where = `${at}.approval.approvers[${j}]`;
      if (!idpNames.has(approver.idp)) issues.push(`${where}.idp: no idp named "${approver.idp}"`);
      checkIdentityMatcher(approver, where, issues);
    });
    policy.approval?.scopes.forEach((scope, j) => {
      if (!(policy.scopes ?? []).includes(scope)) issues.push(`${at}.approval.scopes[${j}]: "${scope}" is not one of the policy's scopes`);
    });
    if (policy.approval?.ttl !== undefined && (policy.approval.ttl < 60 || policy.approval.ttl > 86_400)) {
      issues.push(`${at}.approval.ttl: must be between 1m and 24h`);
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
  if (m.subject_pattern !== undefined && /^\**$/.test(m.subject_pattern) && !bindsClaims) {
    issues.push(`${at}.subject_pattern: "${m.subject_pattern}" matches every subject; bind claims too or narrow it`);
  }
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
