/**
 * The JWT bearer grant (RFC 7523 §2.1) with one of two assertions:
 *
 * - an Identity Assertion JWT Authorization Grant (ID-JAG,
 *   draft-ietf-oauth-identity-assertion-authz-grant-04): header `typ: oauth-id-jag+jwt`, issued by a
 *   configured idp for this broker — `aud` is the broker's issuer, its sole audience — with
 *   `client_id`, `jti`, `exp`, `iat` and optional `resource` (a target name) and `scope`. It is
 *   always single-use, whatever the idp's `single_use`;
 * - a plain workload JWT of a `kubernetes` or `spiffe` idp (a ServiceAccount token, a JWT-SVID),
 *   checked as a subject token is.
 *
 * The assertion then goes through the same verification order, policy, minting and audit as a
 * token exchange's subject token. Refusals of the assertion are `invalid_grant` (RFC 7523 §3.1).
 */
import { decodeProtectedHeader } from 'jose';
import type { Config, IdpConfig } from '../config/schema.ts';
import { fail, type Finding } from '../checks.ts';
import { StsError } from '../errors.ts';
import { GRANT_TYPE_JWT_BEARER, TOKEN_TYPE_JWT } from '../oauth.ts';
import type { Claims } from '../verify/claims.ts';
import { parseTokenRequest, type RawParameters, type TokenRequest } from './token-request.ts';

export const ID_JAG_TYP = 'oauth-id-jag+jwt';
/** Presets whose tokens are workload identities, accepted as plain jwt-bearer assertions. */
const WORKLOAD_PRESETS = new Set<IdpConfig['preset']>(['kubernetes', 'spiffe']);

function malformed(message: string): StsError {
  return new StsError('ERR_REQUEST_MALFORMED', message);
}

/**
 * A jwt-bearer request as the token-exchange parser's request: the assertion stands where the
 * subject token does (same size cap); there is no actor. `client_id` is kept to check it against
 * the ID-JAG's.
 */
export function parseJwtBearerRequest(params: RawParameters): TokenRequest {
  if (params.grant_type !== GRANT_TYPE_JWT_BEARER) throw new StsError('ERR_GRANT_TYPE_UNSUPPORTED', `grant_type must be ${GRANT_TYPE_JWT_BEARER}`);
  if (!params.assertion) throw malformed('assertion is required with the jwt-bearer grant');
  for (const name of ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type'] as const) {
    if (params[name] !== undefined) throw malformed(`${name} is a token-exchange parameter; the jwt-bearer grant takes assertion`);
  }
  const request = parseTokenRequest(asExchangeParameters(params));
  const clientId = params.client_id;
  if (clientId !== undefined && (clientId === '' || clientId.length > 256)) throw malformed('client_id must be 1 to 256 characters');
  return { ...request, grant: 'jwt-bearer', clientId };
}

/** True when the JWS header says the token is an ID-JAG (`typ` compared without case, with or without `application/`). */
export function isIdJag(raw: string): boolean {
  try {
    const typ = decodeProtectedHeader(raw).typ;
    return typeof typ === 'string' && typ.toLowerCase().replace(/^application\//, '') === ID_JAG_TYP;
  } catch {
    return false;
  }
}

/** The idps an assertion is verified against: for an ID-JAG, the broker's issuer is the only accepted audience. */
export function assertionIdps(config: Config, idJag: boolean): readonly IdpConfig[] {
  return idJag ? config.idps.map((idp) => ({ ...idp, audiences: [config.issuer] })) : config.idps;
}

function audiences(aud: unknown): string[] {
  if (typeof aud === 'string') return [aud];
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}

/**
 * The checks the assertion's kind adds once its signature verified: an ID-JAG's own claims, or
 * that a plain JWT comes from a workload idp.
 */
export function checkAssertion(claims: Claims, idp: IdpConfig, idJag: boolean, clientId: string | undefined): Finding[] {
  if (!idJag) {
    return WORKLOAD_PRESETS.has(idp.preset) ? [] : [fail('format', 'ERR_TOKEN_TYPE_UNSUITABLE',
      `a jwt-bearer assertion is an ID-JAG (typ ${ID_JAG_TYP}) or a workload JWT of a kubernetes or spiffe idp; idp "${idp.name}" is neither`)];
  }
  const findings: Finding[] = [];
  for (const name of ['client_id', 'jti'] as const) {
    const value = claims[name];
    if (typeof value !== 'string' || value === '' || value.length > 256) findings.push(fail('format', 'ERR_TOKEN_CLAIM_MISSING', `the ID-JAG has no usable ${name} claim`));
  }
  if (audiences(claims.aud).length > 1) findings.push(fail('audience', 'ERR_AUDIENCE_MISMATCH', "an ID-JAG's audience must be this broker's issuer alone", { actual: claims.aud }));
  if (clientId !== undefined && typeof claims.client_id === 'string' && clientId !== claims.client_id) {
    findings.push(fail('format', 'ERR_ID_JAG_CLIENT_MISMATCH', 'the request\'s client_id is not the ID-JAG\'s client_id'));
  }
  for (const name of ['resource', 'scope'] as const) {
    if (claims[name] !== undefined && typeof claims[name] !== 'string') findings.push(fail('format', 'ERR_TOKEN_FORMAT', `the ID-JAG's ${name} claim is not a string`));
  }
  return findings;
}

/**
 * The request an ID-JAG grants: its `resource` names the target when the request names none (and
 * must agree when it does), and its `scope` is the most the request may ask for (all of it when
 * the request asks for none).
 */
export function requestUnderIdJag<R extends Pick<TokenRequest, 'audience' | 'scopes'>>(request: R, claims: Claims): R {
  const resource = typeof claims.resource === 'string' && claims.resource !== '' ? claims.resource : undefined;
  if (resource !== undefined && request.audience !== undefined && request.audience !== resource) {
    throw new StsError('ERR_TARGET_NOT_ALLOWED', 'the ID-JAG was issued for another resource than the request names');
  }
  let scopes = request.scopes;
  if (typeof claims.scope === 'string') {
    const granted = claims.scope.split(' ').filter(Boolean);
    if (scopes === undefined) scopes = granted.length > 0 ? [...new Set(granted)] : undefined;
    else if (scopes.some((s) => !granted.includes(s))) throw new StsError('ERR_SCOPE_NOT_ALLOWED', 'a requested scope is not in the ID-JAG\'s scope');
  }
  return { ...request, audience: request.audience ?? resource, scopes };
}

/** A jwt-bearer request's parameters as a token exchange's, for /diagnose's lenient reading. */
export function asExchangeParameters(params: RawParameters): RawParameters {
  const { assertion, client_id: _c, ...rest } = params;
  return { ...rest, grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: assertion, subject_token_type: TOKEN_TYPE_JWT };
}

/** RFC 7523 §3.1: an assertion that is not valid, or that policy refuses, is invalid_grant. */
export function asGrantError(err: unknown): unknown {
  if (!(err instanceof StsError) || err.error !== 'invalid_request' || err.check === 'request') return err;
  // A request malformed as a request (an oversized or missing assertion) stays invalid_request.
  if (err.code === 'ERR_REQUEST_MALFORMED' || err.code === 'ERR_REQUEST_TOO_LARGE') return err;
  return new StsError(err.code, err.message, { check: err.check, error: 'invalid_grant', cause: err });
}
