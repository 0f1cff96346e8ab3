/**
 * The configuration's shape: the zod schema every document is parsed against, the types derived
 * from it, and the limits that bound it. Secret values are references (`env:NAME`, `file:PATH`,
 * `aws-secrets-manager:ID[#key]`); their syntax is checked here, the runtime adapters resolve
 * them. docs/config.schema.json is generated from this schema (scripts/generate-config-schema.ts).
 */
import { z } from 'zod';
import { parseDuration } from './duration.ts';
import { isLoopbackHost } from '../http/urls.ts';
import { parseSecretRef } from './secret-refs.ts';

/** Audit fields an operator may remove from every event (docs/audit.md). */
export const REDACTABLE_FIELDS = ['client_ip', 'user_agent', 'email', 'preferred_username', 'actor', 'oid'] as const;
export type RedactableField = (typeof REDACTABLE_FIELDS)[number];

export const SIGNING_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512',
] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** Algorithms accepted on subject tokens: asymmetric only. */
export const VERIFY_ALGORITHMS = [...SIGNING_ALGORITHMS, 'EdDSA', 'Ed25519'] as const;

export const PRESETS = ['github-actions', 'gitlab', 'keycloak', 'entra', 'generic'] as const;

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
  /**
   * Anyone can hold a genuine token of this issuer (as with GitHub Actions' and GitLab.com's, whose
   * presets are always shared): /diagnose then shows a token only the policies its identity matches.
   */
  shared_issuer: z.boolean().optional(),
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

export const configSchema = z.strictObject({
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

/** The document as the schema parsed it, before cross-checks. */
export type ParsedConfig = z.output<typeof configSchema>;
export type IdpConfig = ParsedConfig['idps'][number] & { clock_skew: number };
export type TargetConfig = ParsedConfig['targets'][number];
type ParsedPolicy = ParsedConfig['policies'][number];
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
  readonly signing: ParsedConfig['signing'];
  readonly defaults: ParsedConfig['defaults'];
  readonly scopes: ReadonlyMap<string, ScopeDefinition>;
  readonly idps: readonly IdpConfig[];
  readonly targets: readonly TargetConfig[];
  /** Allow policies, in config order. */
  readonly policies: readonly PolicyConfig[];
  /** `effect: deny` policies, in config order; evaluated before every allow policy. */
  readonly denyPolicies: readonly DenyPolicyConfig[];
  readonly audit: ParsedConfig['audit'];
  readonly diagnose: ParsedConfig['diagnose'];
  readonly rate_limit?: ParsedConfig['rate_limit'];
}
