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
 *               (but, like every registered claim, decoded as go-oidc decodes it: go-claims.ts)
 *   claim_mapping / claim_validation / user_validation   as the authenticator maps and validates
 * Every check is reported, with its numbers, so one run shows every reason; the verdict is
 * "authenticated" only when all pass and the configuration itself is valid. Pure apart from the
 * discovery and JWKS fetches, which go through the injected FetchLike; `now` is passed in.
 */
import { compactVerify, importJWK, type JWK } from 'jose';
import { audienceCause, entraVersion, findIssuerNearMiss } from '../diagnose/near-miss.ts';
import { fetchJson } from '../http/fetch-capped.ts';
import type { JwtAuthenticator } from './kube-authn-model.ts';
import { type ClusterCheckId, clusterCause, clusterHint } from './cluster-catalogue.ts';
import { type Claims, type ClusterCheck, type ClusterDiagnosis, type ClusterDiagnosisInput, KUBE_NBF_LEEWAY_SECONDS, type KubeUser, ORDER, decodeJwt, failWith, iso, list, skip } from './cluster-diagnosis.ts';
import { goAudience, goTime, jsonKind, payloadProblems } from './go-claims.ts';
import { authenticatedUser, mapClaims, validateClaims, validateUser } from './map-kube-user.ts';

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
  const payload = payloadProblems(claims);
  if (payload.length > 0 && checks.get('signature')?.status === 'pass') {
    checks.set('signature', failWith('signature', 'cluster.signature.payload',
      `the signature verifies, but the apiserver's OIDC library cannot decode the claims: ${payload.join('; ')}`, { detail: payload.join('; ') }));
  }
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
  const aud = goAudience(claims.aud);
  const accepted = a.issuer.audiences;
  if (aud === undefined) {
    checks.set('audience', failWith('audience', 'cluster.audience.malformed', `aud is ${jsonKind(claims.aud)}: the apiserver reads only a string or a list of strings, and refuses the token`,
      { actual: jsonKind(claims.aud), expected: list(accepted) }, { expected: accepted }));
    return;
  }
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
  const exp = goTime(claims.exp);
  if (exp === undefined) {
    checks.set('expiry', failWith('expiry', 'cluster.expiry.missing', 'the token has no exp: the apiserver reads it as expired'));
  } else if (exp === null) {
    checks.set('expiry', failWith('expiry', 'cluster.expiry.malformed', `exp is ${jsonKind(claims.exp)}: the apiserver cannot decode the token`, { actual: jsonKind(claims.exp) }));
  } else if (exp < now) {
    const seconds = Math.max(1, Math.floor(now - exp));
    checks.set('expiry', failWith('expiry', 'cluster.expiry.expired', `the token expired ${seconds} s ago (exp ${iso(exp)}; server time ${iso(nowWhole)}; the apiserver allows no leeway on exp)`,
      { seconds, leeway: 60 }, { seconds, leeway_seconds: 0, actual: exp }));
  } else {
    checks.set('expiry', { check: 'expiry', status: 'pass', message: `valid for another ${Math.floor(exp - now)} s (exp ${iso(exp)}; no leeway)`, seconds: -Math.floor(exp - now), leeway_seconds: 0 });
  }
  // nbf is a pointer in go-oidc (null is no nbf); iat is not, so a null iat fails like a malformed one.
  const nbf = claims.nbf === null ? undefined : goTime(claims.nbf);
  const iat = goTime(claims.iat);
  const malformed = [nbf === null && `nbf is ${jsonKind(claims.nbf)}`, iat === null && `iat is ${jsonKind(claims.iat)}`].filter((m): m is string => typeof m === 'string');
  if (malformed.length > 0) {
    checks.set('not_before', failWith('not_before', 'cluster.not_before.malformed', `${malformed.join('; ')}: the apiserver cannot decode the token`, { actual: malformed.join('; ') }));
    return;
  }
  const iatNote = iat !== undefined && iat !== null && iat > now + KUBE_NBF_LEEWAY_SECONDS
    ? `; iat is ${Math.floor(iat - now)} s in the future, which the apiserver does not check (argo-sts's own checks would refuse it)`
    : '';
  if (nbf === undefined || nbf === null) {
    checks.set('not_before', { check: 'not_before', status: iatNote ? 'warn' : 'pass', message: `no nbf claim${iatNote}`, leeway_seconds: KUBE_NBF_LEEWAY_SECONDS });
  } else if (now + KUBE_NBF_LEEWAY_SECONDS < nbf) {
    const seconds = Math.ceil(nbf - now);
    checks.set('not_before', failWith('not_before', 'cluster.not_before.future', `the token is not valid for another ${seconds} s (nbf ${iso(nbf)} is ${seconds} s in the future; server time ${iso(nowWhole)}; leeway ${KUBE_NBF_LEEWAY_SECONDS} s)`,
      { seconds, leeway: KUBE_NBF_LEEWAY_SECONDS }, { seconds, leeway_seconds: KUBE_NBF_LEEWAY_SECONDS, actual: nbf }));
  } else {
    const ahead = Math.ceil(nbf - now);
    checks.set('not_before', { check: 'not_before', status: iatNote ? 'warn' : 'pass', message: `${ahead > 0 ? `nbf is ${ahead} s in the future, within` : 'nbf has passed; leeway'} ${KUBE_NBF_LEEWAY_SECONDS} s${iatNote}`, seconds: ahead, leeway_seconds: KUBE_NBF_LEEWAY_SECONDS });
  }
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return 'failed';
  const cause = (err as Error & { cause?: unknown }).cause;
  const inner = cause instanceof Error ? `: ${cause.message}` : '';
  return `${err.message}${inner}`.slice(0, 300);
}
