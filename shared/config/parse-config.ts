/**
 * The configuration: one YAML or JSON document, parsed once at start-up against a schema into a
 * typed, frozen object. Every error names its path (`policies[2].subject_pattern: ...`).
 *
 * Secret values are references (`env:NAME`, `file:PATH`, `aws-secrets-manager:ID[#key]`); this
 * module checks their syntax, the runtime adapters resolve them.
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration } from './duration.ts';
import { isLoopbackHost } from '../http/urls.ts';
import { checkPolicySet, compileIdentityMatcher, runPolicyExamples } from '../policy/compile-policy.ts';
import { checkIdpPreset } from '../verify/presets/index.ts';
import { BUILT_IN_SCOPES } from '../policy/scopes.ts';
import { parseSecretRef } from './secret-refs.ts';
import { REDACTABLE_FIELDS } from '../audit/audit-event.ts';

export const SIGNING_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512',
] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** Algorithms accepted on subject tokens: asymmetric only. */
export const VERIFY_ALGORITHMS = [...SIGNING_ALGORITHMS, 'EdDSA', 'Ed25519'] as const;

export const PRESETS = ['github-actions', 'gitlab', 'keycloak', 'entra', 'generic'] as const;
export const TARGET_KINDS = [
  'kubernetes-oidc', 'kubernetes-tokenrequest', 'entra-obo', 'entra-client-credentials',
] as const;

/** Upper bounds that keep a typo from becoming a week-long credential or a blind clock. */
export const LIMITS = {
  /** No minted credential lives longer than a day, whatever the config says. */
  maxTtlSeconds: 24 * 3600,
  /** A leeway over five minutes hides a broken clock instead of tolerating drift. */
  maxClockSkewSeconds: 300,
  /** Kubernetes refuses TokenRequest lifetimes under ten minutes. */
  minTokenRequestSeconds: 600,
} as const;

const NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const NAMESPACE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const SCOPE_NAME = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

const duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const seconds = parseDuration(value);
  if (seconds === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(value)} (use seconds or e.g. 90s, 10m, 1h30m)` });
    return z.NEVER;
  }
  return seconds;
});

/** Checked by the parser that resolves them (secret-refs.ts), so what loads is what resolves. */
const secretRef = z.string().refine((value) => {
  try {
    parseSecretRef(value);
    return true;
  } catch {
    return false;
  }
}, 'must be a secret reference: env:NAME, file:PATH or aws-secrets-manager:ID[#key]');

function httpsUrl(what: string) {
  return z.string().superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: `${what} must be an absolute URL` });
      return;
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
      ctx.addIssue({ code: 'custom', message: `${what} must use https (http only for loopback hosts)` });
    }
    if (url.search || url.hash) ctx.addIssue({ code: 'custom', message: `${what} must not have a query or fragment` });
  });
}

const name = z.string().regex(NAME, 'must be lowercase letters, digits and dashes');

/** A JSON object given as text (MSAL takes its metadata that way). */
function jsonObjectText(what: string) {
  return z.string().superRefine((value, ctx) => {
    try {
      const doc: unknown = JSON.parse(value);
      if (doc && typeof doc === 'object' && !Array.isArray(doc)) return;
    } catch {
      /* reported below */
    }
    ctx.addIssue({ code: 'custom', message: `${what} must be a JSON object (as text)` });
  });
}
const stringList = z.array(z.string().min(1)).min(1);
const claimValue = z.union([z.string(), z.number(), z.boolean()]);

/** A token bucket: `requests` per `per`, bursting up to `burst` (default `requests`). */
const rateLimitRule = z.strictObject({
  requests: z.number().int().positive(),
  per: duration,
  burst: z.number().int().positive().optional(),
});

const idpSchema = z.strictObject({
  name,
  issuer: httpsUrl('issuer'),
  audiences: stringList,
  preset: z.enum(PRESETS).default('generic'),
  jwks_uri: httpsUrl('jwks_uri').optional(),
  algorithms: z.array(z.enum(VERIFY_ALGORITHMS)).min(1).optional(),
  clock_skew: duration.optional(),
  /** entra preset: the tenant whose tokens are accepted (`tid` must equal it). */
  tenant_id: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a tenant GUID').optional(),
  /** Refuse a token whose `iat` is further in the past than this. */
  max_token_age: duration.optional(),
  /** Refuse a token whose `exp` is further in the future than this. */
  max_token_lifetime: duration.optional(),
  /** Each token (by `jti`) can be exchanged once until it expires. */
  single_use: z.boolean().optional(),
  /** How long the last good keys keep serving while the IdP's JWKS cannot be fetched. */
  jwks_max_stale: duration.optional(),
  rate_limit: z.strictObject({ per_subject: rateLimitRule.optional(), per_idp: rateLimitRule.optional() }).optional(),
});

const targetSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    name,
    kind: z.literal('kubernetes-oidc'),
    audience: z.string().min(1),
    argo_server: httpsUrl('argo_server').optional(),
  }),
  z.strictObject({
    name,
    kind: z.literal('kubernetes-tokenrequest'),
    api_server: httpsUrl('api_server'),
    credentials: secretRef,
    ca: secretRef.optional(),
    audiences: stringList.optional(),
    argo_server: httpsUrl('argo_server').optional(),
  }),
  z.strictObject({
    name,
    kind: z.enum(['entra-obo', 'entra-client-credentials']),
    tenant_id: z.string().min(1),
    client_id: z.string().min(1),
    client_secret: secretRef,
    authority: httpsUrl('authority').optional(),
    scopes: stringList.optional(),
    /** MSAL's authorityMetadata / cloudDiscoveryMetadata: JSON that replaces discovery (air-gapped, tests). */
    authority_metadata: jsonObjectText('authority_metadata').optional(),
    cloud_discovery_metadata: jsonObjectText('cloud_discovery_metadata').optional(),
    argo_server: httpsUrl('argo_server').optional(),
  }),
]);

const claimValues = z.union([claimValue, z.array(claimValue).min(1)]);
/**
 * A claim matcher (see docs/policy.md): a scalar or a list (any-of), or an operator object with
 * exactly one of `any_of`, `all_of` (every listed value is in the claim), `not` (the claim is
 * present and matches none), `pattern` (anchored glob, or a list of them: any-of).
 */
const claimOperators = z.strictObject({
  any_of: z.array(claimValue).min(1).optional(),
  all_of: z.array(claimValue).min(1).optional(),
  not: claimValues.optional(),
  pattern: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
});
const scopeList = z.array(z.string().regex(SCOPE_NAME, 'not a valid scope token')).min(1);

const identityMatcher = {
  subject: z.string().min(1).optional(),
  subject_pattern: z.string().min(1).optional(),
  claims: z.record(z.string(), z.union([claimValues, claimOperators])).optional(),
  /** A CEL expression over `claims`, `sub`, `iss` and `idp` that must be true. */
  condition: z.string().min(1).max(2048).optional(),
};

const actorSchema = z.strictObject({ idp: name, ...identityMatcher, scopes: scopeList.optional() });

/** Claims in, decision out: checked at every config load (see docs/policy.md). */
const policyExample = z.strictObject({
  claims: z.record(z.string(), z.unknown()),
  idp: name.optional(),
  target: name.optional(),
  namespace: z.string().optional(),
  scope: z.string().optional(),
  actor: z.strictObject({ idp: name, claims: z.record(z.string(), z.unknown()) }).optional(),
  expect: z.enum(['issue', 'deny']),
});

const policySchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be letters, digits, dots, dashes, underscores'),
  /** `deny` policies are evaluated before every allow policy; omitted target/namespaces/scopes mean all. */
  effect: z.enum(['allow', 'deny']).optional(),
  idp: name,
  target: z.union([name, z.array(name).min(1)]).optional(),
  ...identityMatcher,
  namespaces: z.array(z.string().regex(NAMESPACE, 'must be a Kubernetes namespace name')).min(1).optional(),
  scopes: scopeList.optional(),
  max_ttl: duration.optional(),
  service_account: z.string().regex(NAMESPACE, 'must be a ServiceAccount name').optional(),
  delegation: z.strictObject({ actors: z.array(actorSchema).min(1) }).optional(),
  examples: z.array(policyExample).min(1).optional(),
});

const scopeRule = z.strictObject({
  apiGroups: z.array(z.string()),
  resources: z.array(z.string().min(1)).min(1),
  verbs: z.array(z.string().min(1)).min(1),
});

const configSchema = z.strictObject({
  issuer: httpsUrl('issuer'),
  signing: z
    .strictObject({
      alg: z.enum(SIGNING_ALGORITHMS).default('ES256'),
      keys: z.union([z.literal('generate'), secretRef]),
    }),
  defaults: z
    .strictObject({
      ttl: duration.default(600),
      max_ttl: duration.default(3600),
      clock_skew: duration.default(60),
    })
    .default({ ttl: 600, max_ttl: 3600, clock_skew: 60 }),
  scopes: z
    .record(z.string().regex(SCOPE_NAME, 'not a valid scope token'), z.strictObject({
      description: z.string().optional(),
      rules: z.array(scopeRule).min(1),
    }))
    .optional(),
  idps: z.array(idpSchema).min(1),
  targets: z.array(targetSchema).min(1),
  policies: z.array(policySchema),
  audit: z.strictObject({
    sink: z.string().regex(/^(sqlite:.+|d1:[A-Za-z_][A-Za-z0-9_]*)$/, 'must be sqlite:PATH or d1:BINDING').optional(),
    // Personal data removed from every audit event (stdout and durable); see docs/audit.md.
    redact: z.array(z.enum(REDACTABLE_FIELDS)).optional(),
  }).default({}),
  diagnose: z.strictObject({ reveal: z.enum(['verified', 'full', 'basic']).default('verified') }).default({ reveal: 'verified' }),
  /** Opt-in: a bucket per client address, taken before any token work on /token and /diagnose. */
  rate_limit: z.strictObject({ per_client_ip: rateLimitRule.optional() }).optional(),
});

type Parsed = z.output<typeof configSchema>;
export type IdpConfig = Parsed['idps'][number] & { clock_skew: number };
export type TargetConfig = Parsed['targets'][number];
type ParsedPolicy = Parsed['policies'][number];
/** An allow policy (the default effect): target, namespaces and scopes are required. */
export type PolicyConfig = Omit<ParsedPolicy, 'target' | 'effect' | 'namespaces' | 'scopes'> & {
  targets: readonly string[];
  namespaces: string[];
  scopes: string[];
};
/** An `effect: deny` policy: refuses what it matches; omitted target, namespaces or scopes mean all. */
export type DenyPolicyConfig = Omit<ParsedPolicy, 'target' | 'effect' | 'namespaces' | 'scopes' | 'max_ttl' | 'service_account' | 'delegation'> & {
  targets?: readonly string[] | undefined;
  namespaces?: readonly string[] | undefined;
  scopes?: readonly string[] | undefined;
};
export type ActorMatcher = NonNullable<PolicyConfig['delegation']>['actors'][number];
export type ClaimMatchers = NonNullable<PolicyConfig['claims']>;
export type ClaimMatcher = ClaimMatchers[string];
export type PolicyExample = NonNullable<ParsedPolicy['examples']>[number];
export type ScopeRule = z.output<typeof scopeRule>;
export interface ScopeDefinition {
  readonly description?: string | undefined;
  readonly rules: readonly ScopeRule[];
}

export interface Config {
  readonly issuer: string;
  readonly signing: Parsed['signing'];
  readonly defaults: Parsed['defaults'];
  readonly scopes: ReadonlyMap<string, ScopeDefinition>;
  readonly idps: readonly IdpConfig[];
  readonly targets: readonly TargetConfig[];
  /** Allow policies, in config order. */
  readonly policies: readonly PolicyConfig[];
  /** `effect: deny` policies, in config order; evaluated before every allow policy. */
  readonly denyPolicies: readonly DenyPolicyConfig[];
  readonly audit: Parsed['audit'];
  readonly diagnose: Parsed['diagnose'];
  readonly rate_limit?: Parsed['rate_limit'];
}

export class ConfigError extends Error {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`);
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

/** Parses a YAML or JSON document (JSON is YAML) into a validated, frozen config. */
export function parseConfigText(text: string): Config {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true, maxAliasCount: 50 });
  } catch (err) {
    throw new ConfigError([`(document): not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`]);
  }
  return parseConfig(doc);
}

export function parseConfig(doc: unknown): Config {
  const result = configSchema.safeParse(doc);
  if (!result.success) {
    throw new ConfigError(result.error.issues.flatMap((issue) => issue.code === 'unrecognized_keys'
      // Strict keys: one error per unknown key, each at its own path (`policies[2].bogus`).
      ? issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key "${key}"`)
      : [`${formatPath(issue.path)}: ${issue.message}`]));
  }
  const config = deepFreeze(crossCheck(result.data));
  const failures = runPolicyExamples(config, result.data.policies);
  if (failures.length) throw new ConfigError(failures);
  return config;
}

/** Rules that span several parts of the document. */
function crossCheck(parsed: Parsed): Config {
  const issues: string[] = [];
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
    compileIdentityMatcher(policy, at, issues);
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
      if (policy.max_ttl > defaults.max_ttl) issues.push(`${at}.max_ttl: exceeds defaults.max_ttl`);
    }
    policy.delegation?.actors.forEach((actor, j) => {
      const where = `${at}.delegation.actors[${j}]`;
      if (!idpNames.has(actor.idp)) issues.push(`${where}.idp: no idp named "${actor.idp}"`);
      checkIdentityMatcher(actor, where, issues);
      compileIdentityMatcher(actor, where, issues);
      actor.scopes?.forEach((scope, k) => {
        if (!(policy.scopes ?? []).includes(scope)) issues.push(`${where}.scopes[${k}]: "${scope}" is not one of the policy's scopes`);
      });
    });
    const { target: _target, effect: _effect, namespaces, scopes: granted, ...rest } = policy;
    policies.push({ ...rest, targets: targets ?? [], namespaces: namespaces ?? [], scopes: granted ?? [] });
  });
  issues.push(...checkPolicySet(parsed.policies));
  parsed.idps.forEach((idp, i) => issues.push(...checkIdpPreset(idp, `idps[${i}]`)));

  if (issues.length) throw new ConfigError(issues);
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

function deepFreeze<T>(value: T): T {
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
