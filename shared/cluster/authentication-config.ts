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
import { AUTH_CONFIG_LIMITS, type AuthenticationConfig, AuthenticationConfigError, type JwtAuthenticator, KUBE_SIGNING_ALGS, Reader } from './kube-authn-model.ts';
import { parseOidcFlags } from './oidc-flags.ts';
import { compileAndValidate, validateAll } from './validate-authentication-config.ts';

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
