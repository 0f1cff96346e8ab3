/**
 * A kube-apiserver's JWT authenticators, read the way the apiserver reads them:
 *   - an AuthenticationConfiguration (apiserver.config.k8s.io/v1, v1beta1 or v1alpha1; YAML or
 *     JSON), decoded strictly (an unknown or repeated field is an error, as `--authentication-config`
 *     refuses it), then validated with the apiserver's rules: https issuer and discovery URLs
 *     without query, fragment or user info, unique issuers, at least one audience and
 *     `audienceMatchPolicy: MatchAny` for several, exactly one of claim or expression, a `prefix`
 *     whenever a username or groups claim is named (and none with an expression), domain-prefixed
 *     lowercase `extra` keys outside k8s.io and kubernetes.io, compiling CEL, and
 *     `claims.email_verified` referenced somewhere when the username expression uses `claims.email`;
 *   - or the legacy `--oidc-*` flags, one per line or space-separated (as in a static Pod
 *     manifest's command), turned into the one authenticator the apiserver builds from them: the
 *     username prefix defaults to `<issuer>#` unless the claim is `email` ("-" means none), and
 *     only `--oidc-signing-algs` (default RS256) may sign.
 * Pure: text in, authenticators and problems out. A config with problems is one the apiserver
 * would refuse to start with (or, on reload, ignore): the diagnosis reports them, never guesses.
 */
import { parseAllDocuments } from 'yaml';
import { compileKubeCel, type CompiledExpression } from './kube-cel.ts';

/** Every algorithm kube-apiserver accepts from an AuthenticationConfiguration. */
export const KUBE_SIGNING_ALGS = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512'] as const;

/** The check a config problem belongs to (the same ids as the diagnosis). */
export type ConfigCheck = 'config' | 'issuer' | 'discovery' | 'audience' | 'claim_validation' | 'claim_mapping' | 'user_validation';

export interface ConfigProblem {
  /** As the apiserver names it: `jwt[0].claimMappings.username.prefix`. */
  readonly path: string;
  readonly message: string;
  readonly check: ConfigCheck;
}

export interface PrefixedClaimOrExpression {
  readonly claim?: string | undefined;
  /** undefined = not set (required with a claim); "" = set to no prefix. */
  readonly prefix?: string | undefined;
  readonly expression?: string | undefined;
}

export interface ClaimValidationRule {
  readonly claim?: string | undefined;
  readonly requiredValue?: string | undefined;
  readonly expression?: string | undefined;
  readonly message?: string | undefined;
  readonly compiled?: CompiledExpression | undefined;
}

export interface UserValidationRule {
  readonly expression: string;
  readonly message?: string | undefined;
  readonly compiled?: CompiledExpression | undefined;
}

export interface JwtAuthenticator {
  readonly issuer: {
    readonly url: string;
    readonly discoveryURL?: string | undefined;
    /** PEM; from `--oidc-ca-file` the caller reads the file into it. */
    readonly certificateAuthority?: string | undefined;
    readonly certificateAuthorityFile?: string | undefined;
    readonly audiences: readonly string[];
    readonly audienceMatchPolicy?: string | undefined;
  };
  readonly claimValidationRules: readonly ClaimValidationRule[];
  readonly claimMappings: {
    readonly username: PrefixedClaimOrExpression & { readonly compiled?: CompiledExpression | undefined };
    readonly groups: PrefixedClaimOrExpression & { readonly compiled?: CompiledExpression | undefined };
    readonly uid: { readonly claim?: string | undefined; readonly expression?: string | undefined; readonly compiled?: CompiledExpression | undefined };
    readonly extra: readonly { readonly key: string; readonly valueExpression: string; readonly compiled?: CompiledExpression | undefined }[];
  };
  readonly userValidationRules: readonly UserValidationRule[];
}

export interface AuthenticationConfig {
  /** Where the authenticators came from. */
  readonly source: 'v1' | 'v1beta1' | 'v1alpha1' | 'flags';
  readonly jwt: readonly JwtAuthenticator[];
  /** The algorithms a token may be signed with. */
  readonly signingAlgs: readonly string[];
  /** Empty when the apiserver would accept the configuration. */
  readonly problems: readonly ConfigProblem[];
}

/** Bounds on what is parsed: real configs are a few KiB with a handful of authenticators. */
export const AUTH_CONFIG_LIMITS = { maxBytes: 256 * 1024, maxAuthenticators: 64 } as const;

export class AuthenticationConfigError extends Error {
  override name = 'AuthenticationConfigError';
}

/** Reads an AuthenticationConfiguration or a file of `--oidc-*` flags. Throws only for text that is neither. */
export function parseAuthenticationConfig(text: string): AuthenticationConfig {
  if (text.length > AUTH_CONFIG_LIMITS.maxBytes) throw new AuthenticationConfigError(`larger than ${AUTH_CONFIG_LIMITS.maxBytes} bytes`);
  // Flags alone, or inside a kube-apiserver static Pod manifest's command.
  if (/(^|\s|["'])--oidc-[a-z-]+/.test(text) && !/kind:\s*["']?AuthenticationConfiguration\b|"kind"\s*:\s*"AuthenticationConfiguration"/.test(text)) return parseOidcFlags(text);
  return parseStructured(text);
}

// ---------------------------------------------------------------------------------------------
// Structured configuration

const FIELDS = {
  root: ['apiVersion', 'kind', 'jwt', 'anonymous'],
  jwt: ['issuer', 'claimValidationRules', 'claimMappings', 'userValidationRules'],
  issuer: ['url', 'discoveryURL', 'certificateAuthority', 'audiences', 'audienceMatchPolicy', 'egressSelectorType'],
  claimValidationRule: ['claim', 'requiredValue', 'expression', 'message'],
  claimMappings: ['username', 'groups', 'uid', 'extra'],
  prefixed: ['claim', 'prefix', 'expression'],
  uid: ['claim', 'expression'],
  extra: ['key', 'valueExpression'],
  userValidationRule: ['expression', 'message'],
} as const;

type Obj = Record<string, unknown>;

class Reader {
  readonly problems: ConfigProblem[] = [];

  problem(path: string, message: string, check: ConfigCheck): void {
    this.problems.push({ path, message, check });
  }

  object(value: unknown, path: string, fields: readonly string[], check: ConfigCheck): Obj {
    if (value === undefined || value === null) return {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.problem(path, 'must be an object', check);
      return {};
    }
    for (const key of Object.keys(value)) if (!fields.includes(key)) this.problem(`${path}.${key}`, 'unknown field (the apiserver decodes strictly)', check);
    return value as Obj;
  }

  list(value: unknown, path: string, check: ConfigCheck): unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.problem(path, 'must be a list', check);
      return [];
    }
    return value;
  }

  string(value: unknown, path: string, check: ConfigCheck): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') {
      this.problem(path, 'must be a string', check);
      return undefined;
    }
    return value;
  }
}

function parseStructured(text: string): AuthenticationConfig {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [docs];
  if (list.length !== 1) throw new AuthenticationConfigError('expected one YAML or JSON document (an AuthenticationConfiguration or --oidc-* flags)');
  const doc = list[0]!;
  if (doc.errors.length > 0) {
    const message = doc.errors[0]!.message.split('\n')[0];
    throw new AuthenticationConfigError(`not YAML or JSON: ${message}`);
  }
  const root = doc.toJS() as unknown;
  if (!root || typeof root !== 'object' || Array.isArray(root)) throw new AuthenticationConfigError('not an AuthenticationConfiguration: expected an object with apiVersion and kind');
  const r = new Reader();
  const top = r.object(root, '', FIELDS.root, 'config');
  const match = /^apiserver\.config\.k8s\.io\/(v1|v1beta1|v1alpha1)$/.exec(String(top.apiVersion ?? ''));
  if (!match || top.kind !== 'AuthenticationConfiguration') {
    throw new AuthenticationConfigError(`not an AuthenticationConfiguration: apiVersion ${JSON.stringify(top.apiVersion)}, kind ${JSON.stringify(top.kind)} (expected apiserver.config.k8s.io/v1 or v1beta1, AuthenticationConfiguration)`);
  }
  const items = r.list(top.jwt, 'jwt', 'config');
  if (items.length > AUTH_CONFIG_LIMITS.maxAuthenticators) r.problem('jwt', `must have at most ${AUTH_CONFIG_LIMITS.maxAuthenticators} items`, 'config');
  const jwt = items.slice(0, AUTH_CONFIG_LIMITS.maxAuthenticators).map((item, i) => readAuthenticator(r, item, `jwt[${i}]`));
  validateAll(r, jwt);
  return { source: match[1] as 'v1' | 'v1beta1' | 'v1alpha1', jwt, signingAlgs: KUBE_SIGNING_ALGS, problems: r.problems };
}

function readAuthenticator(r: Reader, value: unknown, path: string): JwtAuthenticator {
  const a = r.object(value, path, FIELDS.jwt, 'config');
  const iss = r.object(a.issuer, `${path}.issuer`, FIELDS.issuer, 'issuer');
  const audiences = r.list(iss.audiences, `${path}.issuer.audiences`, 'audience').map((v, i) => r.string(v, `${path}.issuer.audiences[${i}]`, 'audience') ?? '');
  const issuer = {
    url: r.string(iss.url, `${path}.issuer.url`, 'issuer') ?? '',
    discoveryURL: r.string(iss.discoveryURL, `${path}.issuer.discoveryURL`, 'discovery'),
    certificateAuthority: r.string(iss.certificateAuthority, `${path}.issuer.certificateAuthority`, 'discovery'),
    audiences,
    audienceMatchPolicy: r.string(iss.audienceMatchPolicy, `${path}.issuer.audienceMatchPolicy`, 'audience'),
  };
  const claimValidationRules = r.list(a.claimValidationRules, `${path}.claimValidationRules`, 'claim_validation').map((v, i) => {
    const p = `${path}.claimValidationRules[${i}]`;
    const rule = r.object(v, p, FIELDS.claimValidationRule, 'claim_validation');
    return {
      claim: r.string(rule.claim, `${p}.claim`, 'claim_validation'),
      requiredValue: r.string(rule.requiredValue, `${p}.requiredValue`, 'claim_validation'),
      expression: r.string(rule.expression, `${p}.expression`, 'claim_validation'),
      message: r.string(rule.message, `${p}.message`, 'claim_validation'),
    };
  });
  const m = r.object(a.claimMappings, `${path}.claimMappings`, FIELDS.claimMappings, 'claim_mapping');
  const prefixed = (v: unknown, p: string) => {
    const o = r.object(v, p, FIELDS.prefixed, 'claim_mapping');
    return { claim: r.string(o.claim, `${p}.claim`, 'claim_mapping'), prefix: r.string(o.prefix, `${p}.prefix`, 'claim_mapping'), expression: r.string(o.expression, `${p}.expression`, 'claim_mapping') };
  };
  const uid = r.object(m.uid, `${path}.claimMappings.uid`, FIELDS.uid, 'claim_mapping');
  const claimMappings = {
    username: prefixed(m.username, `${path}.claimMappings.username`),
    groups: prefixed(m.groups, `${path}.claimMappings.groups`),
    uid: { claim: r.string(uid.claim, `${path}.claimMappings.uid.claim`, 'claim_mapping'), expression: r.string(uid.expression, `${path}.claimMappings.uid.expression`, 'claim_mapping') },
    extra: r.list(m.extra, `${path}.claimMappings.extra`, 'claim_mapping').map((v, i) => {
      const p = `${path}.claimMappings.extra[${i}]`;
      const e = r.object(v, p, FIELDS.extra, 'claim_mapping');
      return { key: r.string(e.key, `${p}.key`, 'claim_mapping') ?? '', valueExpression: r.string(e.valueExpression, `${p}.valueExpression`, 'claim_mapping') ?? '' };
    }),
  };
  const userValidationRules = r.list(a.userValidationRules, `${path}.userValidationRules`, 'user_validation').map((v, i) => {
    const p = `${path}.userValidationRules[${i}]`;
    const rule = r.object(v, p, FIELDS.userValidationRule, 'user_validation');
    return { expression: r.string(rule.expression, `${p}.expression`, 'user_validation') ?? '', message: r.string(rule.message, `${p}.message`, 'user_validation') };
  });
  return compileAndValidate(r, { issuer, claimValidationRules, claimMappings, userValidationRules }, path);
}

// ---------------------------------------------------------------------------------------------
// Validation, as the apiserver's: every rule that would stop it from using the config.

/** A DNS-1123 subdomain (any case: lowercase is its own rule), "/", and a non-empty HTTP path. */
const DOMAIN_PREFIXED_PATH = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/i;

function validateUrl(r: Reader, value: string, path: string, check: ConfigCheck): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    r.problem(path, `${JSON.stringify(value)} is not a URL`, check);
    return;
  }
  if (url.protocol !== 'https:') r.problem(path, 'URL scheme must be https', check);
  if (url.username || url.password) r.problem(path, 'URL must not contain a username or password', check);
  if (url.search) r.problem(path, 'URL must not contain a query', check);
  if (url.hash) r.problem(path, 'URL must not contain a fragment', check);
}

function compileRule(r: Reader, expression: string, variable: 'claims' | 'user', path: string, check: ConfigCheck, want: 'bool' | 'string' | 'any'): CompiledExpression {
  const compiled = compileKubeCel(expression, variable);
  if (!compiled.ok) {
    // What argo-sts cannot evaluate is not the apiserver's problem: reported when the rule is evaluated.
    if (compiled.kind === 'invalid') r.problem(path, `compilation failed: ${compiled.problem}`, check);
    return compiled;
  }
  if (want !== 'any' && compiled.type !== want && compiled.type !== 'dyn') r.problem(path, `must evaluate to ${want}, not ${compiled.type}`, check);
  return compiled;
}

function compileAndValidate(r: Reader, a: JwtAuthenticator, path: string): JwtAuthenticator {
  const iss = a.issuer;
  if (iss.url === '') r.problem(`${path}.issuer.url`, 'Required value', 'issuer');
  else validateUrl(r, iss.url, `${path}.issuer.url`, 'issuer');
  if (iss.discoveryURL) {
    if (iss.url && iss.url.replace(/\/+$/, '') === iss.discoveryURL.replace(/\/+$/, '')) r.problem(`${path}.issuer.discoveryURL`, 'discoveryURL must be different from URL', 'discovery');
    validateUrl(r, iss.discoveryURL, `${path}.issuer.discoveryURL`, 'discovery');
  }
  if (iss.certificateAuthority !== undefined && iss.certificateAuthority !== '' && !iss.certificateAuthority.includes('-----BEGIN CERTIFICATE-----')) {
    r.problem(`${path}.issuer.certificateAuthority`, 'not a PEM certificate bundle', 'discovery');
  }
  if (iss.audiences.length === 0) r.problem(`${path}.issuer.audiences`, 'at least one audience is required', 'audience');
  const seenAud = new Set<string>();
  iss.audiences.forEach((aud, i) => {
    if (aud === '') r.problem(`${path}.issuer.audiences[${i}]`, 'Required value', 'audience');
    if (seenAud.has(aud)) r.problem(`${path}.issuer.audiences[${i}]`, `Duplicate value: ${JSON.stringify(aud)}`, 'audience');
    seenAud.add(aud);
  });
  if (iss.audiences.length > 1 && iss.audienceMatchPolicy !== 'MatchAny') r.problem(`${path}.issuer.audienceMatchPolicy`, 'audienceMatchPolicy must be MatchAny for multiple audiences', 'audience');
  if (iss.audiences.length === 1 && iss.audienceMatchPolicy && iss.audienceMatchPolicy !== 'MatchAny') r.problem(`${path}.issuer.audienceMatchPolicy`, 'audienceMatchPolicy must be empty or MatchAny for single audience', 'audience');

  let usesEmailVerified = false;
  const seenClaims = new Set<string>();
  const seenExpressions = new Set<string>();
  const claimValidationRules = a.claimValidationRules.map((rule, i) => {
    const p = `${path}.claimValidationRules[${i}]`;
    if (rule.claim && rule.expression) r.problem(p, "claim and expression can't both be set", 'claim_validation');
    else if (!rule.claim && !rule.expression) r.problem(p, 'claim or expression is required', 'claim_validation');
    else if (rule.claim) {
      if (rule.message) r.problem(`${p}.message`, 'may not be specified when claim is set', 'claim_validation');
      if (seenClaims.has(rule.claim)) r.problem(`${p}.claim`, `Duplicate value: ${JSON.stringify(rule.claim)}`, 'claim_validation');
      seenClaims.add(rule.claim);
    } else if (rule.expression) {
      if (rule.requiredValue) r.problem(`${p}.requiredValue`, 'may not be specified when expression is set', 'claim_validation');
      if (seenExpressions.has(rule.expression)) r.problem(`${p}.expression`, `Duplicate value: ${JSON.stringify(rule.expression)}`, 'claim_validation');
      seenExpressions.add(rule.expression);
      const compiled = compileRule(r, rule.expression, 'claims', `${p}.expression`, 'claim_validation', 'bool');
      if (compiled.ok && compiled.usesEmailVerified) usesEmailVerified = true;
      return { ...rule, compiled };
    }
    return rule;
  });

  const m = a.claimMappings;
  const mapping = (pce: PrefixedClaimOrExpression, p: string, required: boolean, want: 'string' | 'any') => {
    if (pce.claim && pce.expression) r.problem(p, "claim and expression can't both be set", 'claim_mapping');
    else if (!pce.claim && !pce.expression && required) r.problem(p, 'claim or expression is required', 'claim_mapping');
    else if (pce.expression) {
      if (pce.prefix !== undefined) r.problem(`${p}.prefix`, 'may not be specified when expression is set', 'claim_mapping');
      return { ...pce, compiled: compileRule(r, pce.expression, 'claims', `${p}.expression`, 'claim_mapping', want) };
    } else if (pce.claim && pce.prefix === undefined) {
      r.problem(`${p}.prefix`, 'prefix is required when claim is set. It can be set to an empty string to disable prefixing', 'claim_mapping');
    }
    return pce;
  };
  const username = mapping(m.username, `${path}.claimMappings.username`, true, 'string');
  const groups = mapping(m.groups, `${path}.claimMappings.groups`, false, 'any');
  let uid: JwtAuthenticator['claimMappings']['uid'] = m.uid;
  if (m.uid.claim && m.uid.expression) r.problem(`${path}.claimMappings.uid`, "claim and expression can't both be set", 'claim_mapping');
  else if (m.uid.expression) uid = { ...m.uid, compiled: compileRule(r, m.uid.expression, 'claims', `${path}.claimMappings.uid.expression`, 'claim_mapping', 'string') };
  const seenKeys = new Set<string>();
  const extra = m.extra.map((e, i) => {
    const p = `${path}.claimMappings.extra[${i}]`;
    if (!DOMAIN_PREFIXED_PATH.test(e.key)) r.problem(`${p}.key`, 'must be a domain-prefixed path (such as "acme.io/foo")', 'claim_mapping');
    if (e.key !== e.key.toLowerCase()) r.problem(`${p}.key`, 'must be lowercase', 'claim_mapping');
    const domain = e.key.includes('/') ? e.key.split('/')[0]! : '';
    if (/(^|\.)(kubernetes\.io|k8s\.io)$/.test(domain)) r.problem(`${p}.key`, 'k8s.io, kubernetes.io and their subdomains are reserved for Kubernetes use', 'claim_mapping');
    if (seenKeys.has(e.key)) {
      r.problem(`${p}.key`, `Duplicate value: ${JSON.stringify(e.key)}`, 'claim_mapping');
      return e;
    }
    seenKeys.add(e.key);
    if (e.valueExpression === '') {
      r.problem(`${p}.valueExpression`, 'Required value', 'claim_mapping');
      return e;
    }
    const compiled = compileRule(r, e.valueExpression, 'claims', `${p}.valueExpression`, 'claim_mapping', 'any');
    if (compiled.ok && compiled.usesEmailVerified) usesEmailVerified = true;
    return { ...e, compiled };
  });
  const usernameCompiled = 'compiled' in username ? username.compiled : undefined;
  if (usernameCompiled?.ok && usernameCompiled.usesEmail && !usernameCompiled.usesEmailVerified && !usesEmailVerified) {
    r.problem(`${path}.claimMappings.username.expression`,
      'claims.email_verified must be used in claimMappings.username.expression or claimMappings.extra[*].valueExpression or claimValidationRules[*].expression when claims.email is used in claimMappings.username.expression',
      'claim_mapping');
  }

  const seenUserExpressions = new Set<string>();
  const userValidationRules = a.userValidationRules.map((rule, i) => {
    const p = `${path}.userValidationRules[${i}].expression`;
    if (rule.expression === '') {
      r.problem(p, 'Required value', 'user_validation');
      return rule;
    }
    if (seenUserExpressions.has(rule.expression)) {
      r.problem(p, `Duplicate value: ${JSON.stringify(rule.expression)}`, 'user_validation');
      return rule;
    }
    seenUserExpressions.add(rule.expression);
    return { ...rule, compiled: compileRule(r, rule.expression, 'user', p, 'user_validation', 'bool') };
  });

  return { issuer: iss, claimValidationRules, claimMappings: { username, groups, uid, extra }, userValidationRules };
}

function validateAll(r: Reader, jwt: readonly JwtAuthenticator[]): void {
  const issuers = new Set<string>();
  const discovery = new Set<string>();
  jwt.forEach((a, i) => {
    if (a.issuer.url && issuers.has(a.issuer.url)) r.problem(`jwt[${i}].issuer.url`, `Duplicate value: ${JSON.stringify(a.issuer.url)}`, 'issuer');
    issuers.add(a.issuer.url);
    const d = a.issuer.discoveryURL;
    if (d && discovery.has(d)) r.problem(`jwt[${i}].issuer.discoveryURL`, `Duplicate value: ${JSON.stringify(d)}`, 'discovery');
    if (d) discovery.add(d);
  });
}

// ---------------------------------------------------------------------------------------------
// Legacy --oidc-* flags

const OIDC_FLAGS = ['issuer-url', 'client-id', 'username-claim', 'username-prefix', 'groups-claim', 'groups-prefix', 'ca-file', 'required-claim', 'signing-algs'] as const;

/** `--oidc-issuer-url=https://...` or `--oidc-issuer-url https://...`, one per line or in a command line. */
function parseOidcFlags(text: string): AuthenticationConfig {
  const words = [...text.matchAll(/"([^"]*)"|'([^']*)'|([^\s"']+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!).filter((w) => w !== '-');
  const values = new Map<string, string[]>();
  const r = new Reader();
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!.replace(/^[\[,]+|[\],]+$/g, '');
    const flag = /^--oidc-([a-z-]+)(?:=(.*))?$/.exec(word);
    if (!flag) continue;
    const name = flag[1]!;
    let value = flag[2];
    if (value === undefined) {
      const next = words[i + 1];
      if (next === undefined || next.startsWith('--')) {
        r.problem(`--oidc-${name}`, 'flag needs a value', 'config');
        continue;
      }
      value = next;
      i++;
    }
    if (!(OIDC_FLAGS as readonly string[]).includes(name)) {
      r.problem(`--oidc-${name}`, 'unknown flag: kube-apiserver refuses to start', 'config');
      continue;
    }
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  const one = (name: string) => values.get(name)?.at(-1);
  const issuerUrl = one('issuer-url') ?? '';
  const clientId = one('client-id') ?? '';
  if (!issuerUrl || !clientId) r.problem('--oidc-issuer-url', 'oidc-issuer-url and oidc-client-id must be specified together when any oidc-* flags are set', 'config');
  const usernameClaim = one('username-claim') ?? 'sub';
  let usernamePrefix = one('username-prefix') ?? '';
  if (usernamePrefix === '' && usernameClaim !== 'email') usernamePrefix = `${issuerUrl}#`;
  if (usernamePrefix === '-') usernamePrefix = '';
  const groupsClaim = one('groups-claim');
  const requiredClaims = new Map<string, string>();
  for (const raw of values.get('required-claim') ?? []) {
    for (const pair of raw.split(',')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) r.problem('--oidc-required-claim', `${JSON.stringify(pair)} is not key=value`, 'claim_validation');
      else requiredClaims.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  }
  const signingAlgs = (one('signing-algs') ?? 'RS256').split(',').map((s) => s.trim()).filter(Boolean);
  for (const alg of signingAlgs) if (!(KUBE_SIGNING_ALGS as readonly string[]).includes(alg)) r.problem('--oidc-signing-algs', `oidc: unsupported signing alg: ${JSON.stringify(alg)}`, 'config');
  const authenticator: JwtAuthenticator = {
    issuer: { url: issuerUrl, audiences: clientId ? [clientId] : [], certificateAuthorityFile: one('ca-file') },
    claimValidationRules: [...requiredClaims].map(([claim, requiredValue]) => ({ claim, requiredValue })),
    claimMappings: {
      username: { claim: usernameClaim, prefix: usernamePrefix },
      groups: groupsClaim ? { claim: groupsClaim, prefix: one('groups-prefix') ?? '' } : {},
      uid: {},
      extra: [],
    },
    userValidationRules: [],
  };
  const jwt = issuerUrl && clientId ? [compileAndValidate(r, authenticator, 'jwt[0]')] : [];
  return { source: 'flags', jwt, signingAlgs, problems: r.problems };
}
