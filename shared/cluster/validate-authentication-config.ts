/** The apiserver's validation of JWT authenticators: URLs, prefixes, extra keys, CEL that compiles, the email_verified rule. */
import { compileKubeCel, type CompiledExpression } from './kube-cel.ts';
import { type ConfigCheck, type JwtAuthenticator, type PrefixedClaimOrExpression, Reader } from './kube-authn-model.ts';

export const DOMAIN_PREFIXED_PATH = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/i;

export function validateUrl(r: Reader, value: string, path: string, check: ConfigCheck): void {
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

export function compileRule(r: Reader, expression: string, variable: 'claims' | 'user', path: string, check: ConfigCheck, want: 'bool' | 'string' | 'any'): CompiledExpression {
  const compiled = compileKubeCel(expression, variable);
  if (!compiled.ok) {
    // What argo-sts cannot evaluate is not the apiserver's problem: reported when the rule is evaluated.
    if (compiled.kind === 'invalid') r.problem(path, `compilation failed: ${compiled.problem}`, check);
    return compiled;
  }
  if (want !== 'any' && compiled.type !== want && compiled.type !== 'dyn') r.problem(path, `must evaluate to ${want}, not ${compiled.type}`, check);
  return compiled;
}

export function compileAndValidate(r: Reader, a: JwtAuthenticator, path: string): JwtAuthenticator {
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

export function validateAll(r: Reader, jwt: readonly JwtAuthenticator[]): void {
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
