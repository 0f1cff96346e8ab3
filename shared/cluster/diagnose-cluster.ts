/**
 * Would kube-apiserver authenticate this token? Every JWT authenticator of an
 * AuthenticationConfiguration evaluated as the apiserver evaluates it (k8s.io/apiserver's oidc
 * authenticator on go-oidc):
 *   issuer      the authenticator whose `issuer.url` equals the token's unverified `iss`, exactly
 *               (`accounts.google.com` reads as `https://accounts.google.com`); none claims it → 401
 *   discovery   discoveryURL (or url + /.well-known/openid-configuration), its `issuer` equal to
 *               `issuer.url`, then its jwks_uri, both through the authenticator's CA
 *   signature   an allowed algorithm; the key with the token's kid (any key without a kid)
 *   audience    MatchAny over `issuer.audiences`
 *   expiry      `exp` present and not in the past: no leeway
 *   not_before  `nbf`, when present, at most 60 s ahead (go-oidc's fixed leeway); `iat` unchecked
 *   claim_mapping / claim_validation / user_validation   as the authenticator maps and validates
 * Every check is reported, with its numbers, so one run shows every reason; the verdict is
 * "authenticated" only when all pass and the configuration itself is valid. Pure apart from the
 * discovery and JWKS fetches, which go through the injected FetchLike; `now` is passed in.
 */
import { compactVerify, importJWK, type JWK } from 'jose';
import { audienceCause, entraVersion, findIssuerNearMiss } from '../check-catalogue.ts';
import { fetchJson, type FetchLike } from '../issuer-keys.ts';
import type { AuthenticationConfig, ConfigProblem, JwtAuthenticator } from './authentication-config.ts';
import { type ClusterCheckId, clusterCause, clusterHint } from './cluster-catalogue.ts';
import { celStringList, type CompiledExpression } from './kube-cel.ts';

/** The extra key under which the apiserver records a JWT's `jti` (as `JTI=<jti>`). */
export const CREDENTIAL_ID_KEY = 'authentication.kubernetes.io/credential-id';

export const AUTHENTICATED_GROUP = 'system:authenticated';

/** go-oidc's fixed leeway on nbf; exp has none. */
export const KUBE_NBF_LEEWAY_SECONDS = 60;

export type CheckStatus = 'pass' | 'fail' | 'warn' | 'skip';

export interface RuleOutcome {
  readonly rule: string;
  readonly status: 'pass' | 'fail' | 'error' | 'unsupported';
  readonly message?: string;
}

export interface ClusterCheck {
  readonly check: ClusterCheckId;
  readonly status: CheckStatus;
  readonly message: string;
  readonly hint?: string;
  /** The catalogue cause the hint comes from. */
  readonly cause?: string;
  readonly expected?: unknown;
  readonly actual?: unknown;
  readonly seconds?: number;
  readonly leeway_seconds?: number;
  readonly rules?: readonly RuleOutcome[];
  readonly problems?: readonly ConfigProblem[];
}

export interface KubeUser {
  readonly username: string;
  readonly groups: readonly string[];
  readonly uid: string;
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

export interface ClusterDiagnosis {
  readonly verdict: 'authenticated' | 'refused';
  /** The issuer URL of the authenticator that claimed the token, or null. */
  readonly authenticator: string | null;
  /** The user the apiserver would see (groups end with system:authenticated); null unless authenticated. */
  readonly user: KubeUser | null;
  readonly checks: readonly ClusterCheck[];
  readonly server_time: string;
  readonly config: { readonly source: AuthenticationConfig['source']; readonly authenticators: number; readonly problems: readonly ConfigProblem[] };
  /** When not authenticated but the claims still map: the user the mappings give (for reading, not granted). */
  readonly mapped_user?: KubeUser;
}

export interface ClusterDiagnosisInput {
  readonly token: string;
  readonly config: AuthenticationConfig;
  /** Milliseconds since the epoch. */
  readonly now: number;
  /** A fetch trusting the authenticator's `certificateAuthority` (PEM), or the default roots when undefined. */
  readonly fetchFor: (certificateAuthority: string | undefined) => FetchLike;
}

const ORDER: readonly ClusterCheckId[] = ['issuer', 'discovery', 'signature', 'audience', 'expiry', 'not_before', 'claim_validation', 'claim_mapping', 'user_validation'];

type Claims = Record<string, unknown>;

function decodeSegment(segment: string): unknown {
  const b64 = segment.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
}

function decodeJwt(token: string): { header: Claims; claims: Claims } | undefined {
  if (token.trim().startsWith('{')) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = decodeSegment(parts[0]!);
    const claims = decodeSegment(parts[1]!);
    if (!header || typeof header !== 'object' || Array.isArray(header) || !claims || typeof claims !== 'object' || Array.isArray(claims)) return undefined;
    return { header: header as Claims, claims: claims as Claims };
  } catch {
    return undefined;
  }
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
const list = (values: readonly string[]) => values.map((v) => `\`${v}\``).join(', ');

function skip(check: ClusterCheckId, message: string): ClusterCheck {
  return { check, status: 'skip', message };
}

function failWith(check: ClusterCheckId, causeId: string, message: string, facts: Parameters<typeof clusterHint>[1] = {}, extra: Partial<ClusterCheck> = {}): ClusterCheck {
  return { check, status: 'fail', message, hint: clusterHint(causeId, facts), cause: causeId, ...extra };
}

export async function diagnoseClusterToken(input: ClusterDiagnosisInput): Promise<ClusterDiagnosis> {
  const { config, now } = input;
  const nowSeconds = now / 1000;
  const checks = new Map<ClusterCheckId, ClusterCheck>();
  const base = {
    server_time: new Date(now).toISOString(),
    config: { source: config.source, authenticators: config.jwt.length, problems: config.problems },
  };
  const finish = (authenticator: string | null, user: KubeUser | undefined): ClusterDiagnosis => {
    const ordered = ORDER.map((id) => checks.get(id) ?? skip(id, 'not evaluated'));
    const ok = config.problems.length === 0 && ordered.every((c) => c.status === 'pass' || c.status === 'warn');
    const configCheck: ClusterCheck[] = config.problems.length === 0 ? [] : [failWith('config', 'cluster.config.invalid',
      `kube-apiserver would refuse this configuration: ${config.problems.length} problem${config.problems.length === 1 ? '' : 's'} (${config.problems.map((p) => `${p.path}: ${p.message}`).join('; ')})`,
      { detail: `${config.problems.length} problem${config.problems.length === 1 ? '' : 's'}` }, { problems: config.problems })];
    return {
      verdict: ok ? 'authenticated' : 'refused',
      authenticator,
      user: ok && user ? authenticatedUser(user) : null,
      checks: [...configCheck, ...ordered],
      ...base,
      ...(!ok && user ? { mapped_user: user } : {}),
    };
  };

  const decoded = decodeJwt(input.token);
  if (!decoded) {
    const bearer = /^bearer\s/i.test(input.token.trim());
    checks.set('issuer', failWith('issuer', 'cluster.issuer.not-a-jwt', bearer
      ? 'the token starts with "Bearer ": give the bare JWT (the Authorization header adds the prefix; kubectl --token takes the token without it)'
      : 'the token is not a compact JWT, so no JWT authenticator reads it'));
    for (const id of ORDER.slice(1)) checks.set(id, skip(id, 'no JWT to check'));
    return finish(null, undefined);
  }
  const { header, claims } = decoded;
  let iss = typeof claims.iss === 'string' ? claims.iss : '';
  if (iss === 'accounts.google.com') iss = 'https://accounts.google.com';
  const authenticator = config.jwt.find((a) => a.issuer.url === iss);
  if (!authenticator) {
    const urls = config.jwt.map((a) => a.issuer.url);
    const near = findIssuerNearMiss(iss, config.jwt.map((a) => ({ issuer: a.issuer.url })));
    const causeId = near ? `cluster.${near.cause.id}` : 'cluster.issuer.no-authenticator';
    const facts = { actual: iss || '<no iss>', expected: near ? near.idp.issuer : list(urls) || 'no issuer at all', detail: entraVersion(iss) };
    checks.set('issuer', failWith('issuer', causeId,
      `no JWT authenticator has issuer ${JSON.stringify(iss)}${near ? `; ${JSON.stringify(near.idp.issuer)} nearly matches (${clusterCause(causeId).title})` : ''}: the apiserver ignores the token and answers 401`,
      facts, { actual: iss, expected: urls }));
    for (const id of ORDER.slice(1)) checks.set(id, skip(id, 'no authenticator claims the token'));
    return finish(null, undefined);
  }
  checks.set('issuer', { check: 'issuer', status: 'pass', message: `jwt authenticator ${JSON.stringify(authenticator.issuer.url)} claims the token (iss matches exactly)`, actual: iss });

  await checkDiscoveryAndSignature(input, authenticator, header, checks);
  checkAudience(authenticator, claims, iss, checks);
  checkTimes(claims, nowSeconds, checks);
  const user = mapClaims(authenticator, claims, checks);
  validateClaims(authenticator, claims, checks);
  validateUser(authenticator, user, checks);
  return finish(authenticator.issuer.url, user);
}

async function checkDiscoveryAndSignature(input: ClusterDiagnosisInput, a: JwtAuthenticator, header: Claims, checks: Map<ClusterCheckId, ClusterCheck>): Promise<void> {
  const problems = input.config.problems;
  const ca = a.issuer.certificateAuthority;
  const fetch = input.fetchFor(ca === '' ? undefined : ca);
  const discoveryUrl = a.issuer.discoveryURL || `${a.issuer.url.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  let keys: JWK[];
  try {
    let doc: unknown;
    try {
      doc = await fetchJson(fetch, discoveryUrl);
    } catch (err) {
      const detail = `GET ${discoveryUrl}: ${errorText(err)}`;
      checks.set('discovery', failWith('discovery', 'cluster.discovery.unreachable', `the discovery document cannot be fetched (${detail})`, { detail }));
      checks.set('signature', skip('signature', 'no keys: discovery failed'));
      return;
    }
    const d = (doc && typeof doc === 'object' ? doc : {}) as { issuer?: unknown; jwks_uri?: unknown };
    if (d.issuer !== a.issuer.url) {
      checks.set('discovery', failWith('discovery', 'cluster.discovery.issuer-mismatch',
        `the discovery document at ${discoveryUrl} names issuer ${JSON.stringify(d.issuer)}, not ${JSON.stringify(a.issuer.url)}`,
        { actual: String(d.issuer), expected: a.issuer.url }, { actual: d.issuer, expected: a.issuer.url }));
      checks.set('signature', skip('signature', 'no keys: discovery failed'));
      return;
    }
    if (typeof d.jwks_uri !== 'string') {
      const detail = `the discovery document at ${discoveryUrl} has no jwks_uri`;
      checks.set('discovery', failWith('discovery', 'cluster.discovery.jwks', detail, { detail }));
      checks.set('signature', skip('signature', 'no keys: discovery failed'));
      return;
    }
    let jwks: unknown;
    try {
      jwks = await fetchJson(fetch, d.jwks_uri);
    } catch (err) {
      const detail = `GET ${d.jwks_uri}: ${errorText(err)}`;
      checks.set('discovery', failWith('discovery', 'cluster.discovery.jwks', `the key set cannot be fetched (${detail})`, { detail }));
      checks.set('signature', skip('signature', 'no keys: the JWKS fetch failed'));
      return;
    }
    const set = jwks as { keys?: unknown };
    if (!set || typeof set !== 'object' || !Array.isArray(set.keys)) {
      const detail = `${d.jwks_uri} is not a JWK Set`;
      checks.set('discovery', failWith('discovery', 'cluster.discovery.jwks', detail, { detail }));
      checks.set('signature', skip('signature', 'no keys'));
      return;
    }
    keys = set.keys.filter((k): k is JWK => !!k && typeof k === 'object');
    const via = a.issuer.discoveryURL ? ` (discoveryURL ${a.issuer.discoveryURL})` : '';
    const configProblems = problems.filter((p) => p.check === 'discovery');
    checks.set('discovery', configProblems.length
      ? { check: 'discovery', status: 'fail', message: `the configuration is invalid here: ${configProblems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, hint: clusterHint('cluster.config.invalid'), cause: 'cluster.config.invalid', problems: configProblems }
      : { check: 'discovery', status: 'pass', message: `discovery${via} names the issuer; ${keys.length} key${keys.length === 1 ? '' : 's'} at ${d.jwks_uri}` });
  } catch (err) {
    const detail = errorText(err);
    checks.set('discovery', failWith('discovery', 'cluster.discovery.unreachable', `discovery failed (${detail})`, { detail }));
    checks.set('signature', skip('signature', 'no keys'));
    return;
  }

  const alg = typeof header.alg === 'string' ? header.alg : '';
  const allowed = input.config.signingAlgs;
  if (!allowed.includes(alg)) {
    checks.set('signature', failWith('signature', 'cluster.signature.algorithm', `the token is signed with ${JSON.stringify(alg)}, which this apiserver does not accept (allowed: ${allowed.join(', ')})`,
      { actual: alg, expected: allowed.join(', ') }, { actual: alg, expected: allowed }));
    return;
  }
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  const candidates = kid === undefined ? keys : keys.filter((k) => k.kid === kid);
  if (candidates.length === 0) {
    const kids = keys.map((k) => k.kid).filter((k): k is string => typeof k === 'string');
    checks.set('signature', failWith('signature', 'cluster.signature.kid-unknown', `no key in the issuer's JWKS has kid ${JSON.stringify(kid)} (published: ${kids.join(', ') || 'none'})`,
      { actual: kid, expected: kids.join(', ') || 'none' }, { actual: kid, expected: kids }));
    return;
  }
  for (const jwk of candidates) {
    try {
      const key = await importJWK({ ...jwk, alg }, alg);
      await compactVerify(input.token, key, { algorithms: [alg] });
      checks.set('signature', { check: 'signature', status: 'pass', message: `${alg} signature verifies with key ${JSON.stringify(jwk.kid ?? '(no kid)')}` });
      return;
    } catch {
      // try the next candidate key, as go-oidc does
    }
  }
  checks.set('signature', failWith('signature', 'cluster.signature.invalid', `the ${alg} signature does not verify with ${candidates.length === 1 ? `key ${JSON.stringify(candidates[0]!.kid ?? '(no kid)')}` : `any of ${candidates.length} keys`}`));
}

function checkAudience(a: JwtAuthenticator, claims: Claims, iss: string, checks: Map<ClusterCheckId, ClusterCheck>): void {
  const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud.filter((v): v is string => typeof v === 'string') : [];
  const accepted = a.issuer.audiences;
  const hit = aud.find((v) => accepted.includes(v));
  if (hit !== undefined) {
    checks.set('audience', { check: 'audience', status: 'pass', message: `aud contains ${JSON.stringify(hit)} (MatchAny over ${accepted.length} audience${accepted.length === 1 ? '' : 's'})`, actual: aud });
    return;
  }
  const broker = audienceCause(aud, iss, undefined, accepted).id;
  const causeId = broker === 'audience.entra-uri-vs-guid' || broker === 'audience.keycloak-no-mapper' ? `cluster.${broker}` : 'cluster.audience.mismatch';
  checks.set('audience', failWith('audience', causeId, `aud ${JSON.stringify(aud)} contains none of issuer.audiences ${JSON.stringify(accepted)}`,
    { actual: aud.join(', ') || '(none)', expected: list(accepted) }, { actual: aud, expected: accepted }));
}

function checkTimes(claims: Claims, now: number, checks: Map<ClusterCheckId, ClusterCheck>): void {
  const nowWhole = Math.floor(now);
  if (typeof claims.exp !== 'number') {
    checks.set('expiry', failWith('expiry', 'cluster.expiry.missing', 'the token has no numeric exp: the apiserver reads it as expired'));
  } else if (claims.exp < now) {
    const seconds = Math.max(1, Math.floor(now - claims.exp));
    checks.set('expiry', failWith('expiry', 'cluster.expiry.expired', `the token expired ${seconds} s ago (exp ${iso(claims.exp)}; server time ${iso(nowWhole)}; the apiserver allows no leeway on exp)`,
      { seconds, leeway: 60 }, { seconds, leeway_seconds: 0, actual: claims.exp }));
  } else {
    checks.set('expiry', { check: 'expiry', status: 'pass', message: `valid for another ${Math.floor(claims.exp - now)} s (exp ${iso(claims.exp)}; no leeway)`, seconds: -Math.floor(claims.exp - now), leeway_seconds: 0 });
  }
  const iatNote = typeof claims.iat === 'number' && claims.iat > now + KUBE_NBF_LEEWAY_SECONDS
    ? `; iat is ${Math.floor(claims.iat - now)} s in the future, which the apiserver does not check (argo-sts's own checks would refuse it)`
    : '';
  if (claims.nbf === undefined) {
    checks.set('not_before', { check: 'not_before', status: iatNote ? 'warn' : 'pass', message: `no nbf claim${iatNote}`, leeway_seconds: KUBE_NBF_LEEWAY_SECONDS });
  } else if (typeof claims.nbf !== 'number') {
    checks.set('not_before', failWith('not_before', 'cluster.not_before.future', 'nbf is not a number: the token cannot be parsed'));
  } else if (now + KUBE_NBF_LEEWAY_SECONDS < claims.nbf) {
    const seconds = Math.ceil(claims.nbf - now);
    checks.set('not_before', failWith('not_before', 'cluster.not_before.future', `the token is not valid for another ${seconds} s (nbf ${iso(claims.nbf)} is ${seconds} s in the future; server time ${iso(nowWhole)}; leeway ${KUBE_NBF_LEEWAY_SECONDS} s)`,
      { seconds, leeway: KUBE_NBF_LEEWAY_SECONDS }, { seconds, leeway_seconds: KUBE_NBF_LEEWAY_SECONDS, actual: claims.nbf }));
  } else {
    const ahead = Math.ceil(claims.nbf - now);
    checks.set('not_before', { check: 'not_before', status: iatNote ? 'warn' : 'pass', message: `${ahead > 0 ? `nbf is ${ahead} s in the future, within` : 'nbf has passed; leeway'} ${KUBE_NBF_LEEWAY_SECONDS} s${iatNote}`, seconds: ahead, leeway_seconds: KUBE_NBF_LEEWAY_SECONDS });
  }
}

/**
 * The user a request runs as once authenticated: the apiserver adds `system:authenticated` to
 * every authenticated user's groups (as `kubectl auth whoami` shows).
 */
function authenticatedUser(user: KubeUser): KubeUser {
  return user.groups.includes(AUTHENTICATED_GROUP) ? user : { ...user, groups: [...user.groups, AUTHENTICATED_GROUP] };
}

type Failure = { field: string; causeId: string; message: string; facts: Parameters<typeof clusterHint>[1] };

function evalMapping(compiled: CompiledExpression | undefined, claims: Claims, field: string, failures: Failure[]): { ok: true; value: unknown } | { ok: false } {
  if (!compiled) return { ok: false };
  if (!compiled.ok) {
    failures.push({ field, causeId: compiled.kind === 'unsupported' ? 'cluster.cel.unsupported' : 'cluster.claim_mapping.expression-error', message: `${field}: ${compiled.problem}`, facts: { expected: compiled.expression, detail: compiled.problem } });
    return { ok: false };
  }
  const result = compiled.evaluate(claims);
  if (!result.ok) {
    failures.push({ field, causeId: 'cluster.claim_mapping.expression-error', message: `${field} expression \`${compiled.expression}\` failed: ${result.error}`, facts: { expected: compiled.expression, detail: result.error } });
    return { ok: false };
  }
  return result;
}

function mapClaims(a: JwtAuthenticator, claims: Claims, checks: Map<ClusterCheckId, ClusterCheck>): KubeUser | undefined {
  const m = a.claimMappings;
  const failures: Failure[] = [];
  let username: string | undefined;
  if (m.username.expression !== undefined) {
    const r = evalMapping(m.username.compiled, claims, 'username', failures);
    if (r.ok) {
      if (typeof r.value !== 'string') failures.push({ field: 'username', causeId: 'cluster.claim_mapping.expression-error', message: 'username claim expression must return a string', facts: { expected: m.username.expression, detail: 'must return a string' } });
      else if (r.value === '') failures.push({ field: 'username', causeId: 'cluster.claim_mapping.expression-error', message: 'the username expression gives "": an empty username via CEL expression is not allowed', facts: { expected: m.username.expression, detail: 'evaluates to an empty string' } });
      else username = r.value;
    }
  } else if (m.username.claim) {
    const claim = m.username.claim;
    const value = claims[claim];
    if (value === undefined) {
      failures.push({ field: 'username', causeId: 'cluster.claim_mapping.username-missing', message: `username claim ${JSON.stringify(claim)} is not in the token`, facts: { expected: claim } });
    } else if (typeof value !== 'string') {
      failures.push({ field: 'username', causeId: 'cluster.claim_mapping.not-string', message: `username claim ${JSON.stringify(claim)} is a ${typeof value}, not a string`, facts: { detail: `claim ${claim} is a ${Array.isArray(value) ? 'list' : typeof value}` } });
    } else if (claim === 'email' && claims.email_verified !== undefined && claims.email_verified !== true) {
      failures.push({ field: 'username', causeId: 'cluster.claim_mapping.email-unverified', message: `the username claim is email and email_verified is ${JSON.stringify(claims.email_verified)}: "email not verified"`, facts: {} });
    } else {
      username = m.username.prefix ? m.username.prefix + value : value;
    }
  }

  let groups: string[] = [];
  if (m.groups.claim) {
    const value = claims[m.groups.claim];
    if (value !== undefined) {
      const values = typeof value === 'string' ? [value] : Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
      if (!values) failures.push({ field: 'groups', causeId: 'cluster.claim_mapping.not-string', message: `groups claim ${JSON.stringify(m.groups.claim)} is neither a string nor a list of strings`, facts: { detail: `claim ${m.groups.claim}` } });
      else groups = values.map((g) => (m.groups.prefix ? m.groups.prefix + g : g));
    }
  } else if (m.groups.expression !== undefined) {
    const r = evalMapping(m.groups.compiled, claims, 'groups', failures);
    if (r.ok) {
      const l = celStringList(r.value);
      if (l.ok) groups = l.values;
      else failures.push({ field: 'groups', causeId: 'cluster.claim_mapping.expression-error', message: `groups: ${l.error}`, facts: { expected: m.groups.expression, detail: l.error } });
    }
  }

  let uid = '';
  if (m.uid.claim) {
    const value = claims[m.uid.claim];
    if (typeof value === 'string') uid = value;
    else failures.push({ field: 'uid', causeId: value === undefined ? 'cluster.claim_mapping.username-missing' : 'cluster.claim_mapping.not-string', message: `uid claim ${JSON.stringify(m.uid.claim)} ${value === undefined ? 'is not in the token' : 'is not a string'}`, facts: { expected: m.uid.claim, detail: `claim ${m.uid.claim}` } });
  } else if (m.uid.expression !== undefined) {
    const r = evalMapping(m.uid.compiled, claims, 'uid', failures);
    if (r.ok) {
      if (typeof r.value === 'string') uid = r.value;
      else failures.push({ field: 'uid', causeId: 'cluster.claim_mapping.expression-error', message: 'uid claim expression must return a string', facts: { expected: m.uid.expression, detail: 'must return a string' } });
    }
  }

  const extra: Record<string, string[]> = {};
  // The apiserver (1.32+) names the credential of a token with a string jti in the user's extra.
  if (typeof claims.jti === 'string') extra[CREDENTIAL_ID_KEY] = [`JTI=${claims.jti}`];
  for (const e of m.extra) {
    const r = evalMapping(e.compiled, claims, `extra[${e.key}]`, failures);
    if (!r.ok) continue;
    const l = celStringList(r.value);
    if (!l.ok) failures.push({ field: `extra[${e.key}]`, causeId: 'cluster.claim_mapping.expression-error', message: `extra ${e.key}: ${l.error}`, facts: { expected: e.valueExpression, detail: l.error } });
    else if (l.values.length > 0) extra[e.key] = l.values;
  }

  if (failures.length > 0 || username === undefined) {
    const first = failures[0];
    checks.set('claim_mapping', first
      ? failWith('claim_mapping', first.causeId, failures.map((f) => f.message).join('; '), first.facts)
      : failWith('claim_mapping', 'cluster.config.invalid', 'claimMappings.username has neither a claim nor an expression'));
    return undefined;
  }
  const user: KubeUser = { username, groups, uid, extra };
  const how = m.username.expression !== undefined ? `expression \`${m.username.expression}\`` : `claim ${JSON.stringify(m.username.claim)}${m.username.prefix ? ` with prefix ${JSON.stringify(m.username.prefix)}` : ''}`;
  checks.set('claim_mapping', {
    check: 'claim_mapping', status: 'pass',
    message: `username ${JSON.stringify(username)} (${how}); ${groups.length} group${groups.length === 1 ? '' : 's'}${uid ? `; uid ${JSON.stringify(uid)}` : ''}${Object.keys(extra).length ? `; extra ${Object.keys(extra).join(', ')}` : ''}`,
    actual: user,
  });
  return user;
}

function ruleOutcome(compiled: CompiledExpression | undefined, expression: string, value: Record<string, unknown>, message: string | undefined): RuleOutcome & { causeId?: string; detail?: string } {
  if (!compiled) return { rule: expression, status: 'error', message: 'not compiled', causeId: 'cluster.claim_validation.error', detail: 'not compiled' };
  if (!compiled.ok) {
    return compiled.kind === 'unsupported'
      ? { rule: expression, status: 'unsupported', message: `argo-sts cannot evaluate it: ${compiled.problem}`, causeId: 'cluster.cel.unsupported', detail: compiled.problem }
      : { rule: expression, status: 'error', message: `compilation failed: ${compiled.problem}`, causeId: 'cluster.claim_validation.error', detail: compiled.problem };
  }
  const result = compiled.evaluate(value);
  if (!result.ok) return { rule: expression, status: 'error', message: result.error, causeId: 'cluster.claim_validation.error', detail: result.error };
  if (typeof result.value !== 'boolean') return { rule: expression, status: 'error', message: 'validation expression must return a boolean', causeId: 'cluster.claim_validation.error', detail: 'must return a boolean' };
  if (!result.value) return { rule: expression, status: 'fail', message: message ? `false: ${message}` : 'false', detail: message };
  return { rule: expression, status: 'pass' };
}

function validateClaims(a: JwtAuthenticator, claims: Claims, checks: Map<ClusterCheckId, ClusterCheck>): void {
  if (a.claimValidationRules.length === 0) {
    checks.set('claim_validation', { check: 'claim_validation', status: 'pass', message: 'no claim validation rules', rules: [] });
    return;
  }
  const rules: (RuleOutcome & { causeId?: string; detail?: string })[] = [];
  for (const rule of a.claimValidationRules) {
    if (rule.claim) {
      const value = claims[rule.claim];
      const label = `${rule.claim} == ${JSON.stringify(rule.requiredValue ?? '')}`;
      if (value === undefined) rules.push({ rule: label, status: 'fail', message: `required claim ${rule.claim} not present`, causeId: 'cluster.claim_validation.required-claim', detail: 'absent' });
      else if (typeof value !== 'string') rules.push({ rule: label, status: 'fail', message: `claim ${rule.claim} is a ${Array.isArray(value) ? 'list' : typeof value}; only strings match requiredValue`, causeId: 'cluster.claim_validation.required-claim', detail: JSON.stringify(value) });
      else if (value !== (rule.requiredValue ?? '')) rules.push({ rule: label, status: 'fail', message: `claim ${rule.claim} is ${JSON.stringify(value)}`, causeId: 'cluster.claim_validation.required-claim', detail: JSON.stringify(value) });
      else rules.push({ rule: label, status: 'pass' });
    } else if (rule.expression) {
      const outcome = ruleOutcome(rule.compiled, rule.expression, claims, rule.message);
      rules.push(outcome.status === 'fail' ? { ...outcome, causeId: 'cluster.claim_validation.rule-false' } : outcome);
    }
  }
  checks.set('claim_validation', rulesCheck('claim_validation', rules, 'claim validation rule'));
}

function validateUser(a: JwtAuthenticator, user: KubeUser | undefined, checks: Map<ClusterCheckId, ClusterCheck>): void {
  if (a.userValidationRules.length === 0) {
    checks.set('user_validation', { check: 'user_validation', status: 'pass', message: 'no user validation rules', rules: [] });
    return;
  }
  if (!user) {
    checks.set('user_validation', skip('user_validation', 'no user: the claim mappings failed'));
    return;
  }
  const value = { username: user.username, uid: user.uid, groups: [...user.groups], extra: { ...user.extra } };
  const rules = a.userValidationRules.map((rule) => {
    const outcome = ruleOutcome(rule.compiled, rule.expression, value, rule.message);
    return outcome.status === 'fail' ? { ...outcome, causeId: 'cluster.user_validation.rule-false' } : outcome;
  });
  checks.set('user_validation', rulesCheck('user_validation', rules, 'user validation rule'));
}

function rulesCheck(check: ClusterCheckId, rules: (RuleOutcome & { causeId?: string; detail?: string })[], noun: string): ClusterCheck {
  const clean: RuleOutcome[] = rules.map(({ rule, status, message }) => ({ rule, status, ...(message !== undefined && { message }) }));
  const bad = rules.find((r) => r.status !== 'pass');
  if (!bad) return { check, status: 'pass', message: `${rules.length} ${noun}${rules.length === 1 ? ' holds' : 's hold'}`, rules: clean };
  const failing = rules.filter((r) => r.status !== 'pass');
  const message = failing.map((r) => `\`${r.rule}\`: ${r.message ?? r.status}`).join('; ');
  const isRequired = bad.causeId === 'cluster.claim_validation.required-claim';
  return failWith(check, bad.causeId ?? 'cluster.claim_validation.error', `${failing.length} of ${rules.length} ${noun}${rules.length === 1 ? '' : 's'} ${failing.length === 1 ? 'does' : 'do'} not hold: ${message}`,
    isRequired ? { expected: bad.rule, actual: bad.detail } : { expected: bad.rule, detail: bad.detail }, { rules: clean });
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return 'failed';
  const cause = (err as Error & { cause?: unknown }).cause;
  const inner = cause instanceof Error ? `: ${cause.message}` : '';
  return `${err.message}${inner}`.slice(0, 300);
}
