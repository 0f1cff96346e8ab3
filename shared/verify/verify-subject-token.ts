/**
 * Verification of a subject (or actor) token, in the contract's order:
 * format → issuer → signature → required claims → audience → expiry → not_before → issued_at.
 *
 * The token's `iss` is matched exactly against the configured issuers before any key is looked
 * up. Signatures are checked with jose against the issuer's own keys, asymmetric algorithms only.
 * Time rules are ours, with `now` passed in: valid while `now < exp + L`, from `now >= nbf - L`,
 * and only if `iat <= now + L` (jose checks `iat` only with maxTokenAge, so it is done here).
 */
import { errors as joseErrors, type ProtectedHeaderParameters } from 'jose';
import { VERIFY_ALGORITHMS, type IdpConfig } from '../config/schema.ts';
import { type CryptoPort, isBase64url, verifyCompactJws } from '../keys/crypto-port.ts';
import { type FailingFinding, fail, type Finding, firstFailure, pass } from '../checks.ts';
import { CHECK_IDS, StsError } from '../errors.ts';
import type { IssuerKeys } from './issuer-keys.ts';
import type { Claims } from './claims.ts';
import { checkClaims } from './check-claims.ts';
import { inspectWithPreset, untrustedIssuerFinding } from './presets/index.ts';

export interface TokenInspection {
  readonly findings: readonly Finding[];
  readonly header?: ProtectedHeaderParameters;
  readonly claims?: Claims;
  /** The configured idp whose issuer the token names exactly. */
  readonly idp?: IdpConfig;
  /** True when the signature verified against that idp's keys. */
  readonly signatureVerified: boolean;
  /** Claims the token could not carry, as the idp's preset found them (Entra's groups overage). */
  readonly unavailable?: Readonly<Record<string, string>>;
}

export interface VerifiedToken {
  readonly idp: IdpConfig;
  readonly claims: Claims & { readonly sub: string; readonly iss: string };
  readonly findings: readonly Finding[];
  /** Claims the token could not carry, as the idp's preset found them. */
  readonly unavailable: Readonly<Record<string, string>>;
}

export interface VerifyContext {
  readonly idps: readonly IdpConfig[];
  readonly keys: IssuerKeys;
  /** The broker's crypto port: node:crypto on Node, WebCrypto on Workers. */
  readonly crypto: CryptoPort;
  /** Seconds since the epoch. */
  readonly now: number;
}

export interface InspectOptions {
  /** /token stops at the first failure; /diagnose runs every check it can. */
  readonly stopAtFirstFailure: boolean;
}

/** Inspects a token, returning one or more findings per check. Never throws for a bad token. */
export async function inspectToken(raw: string, ctx: VerifyContext, options: InspectOptions): Promise<TokenInspection> {
  const findings: Finding[] = [];
  const stop = () => options.stopAtFirstFailure && firstFailure(findings) !== undefined;

  const decoded = decodeToken(raw, ctx.crypto);
  findings.push(decoded.finding);
  if (!decoded.claims || !decoded.header) return { findings, signatureVerified: false };
  const { header, claims } = decoded;

  const idp = findIssuer(claims, ctx.idps, findings);
  if (stop()) return { findings, header, claims, signatureVerified: false };

  let signatureVerified = false;
  if (idp) {
    const signature = await checkSignature(raw, header, idp, ctx.keys, ctx.crypto);
    findings.push(signature);
    signatureVerified = signature.status === 'pass';
  }
  if (stop()) return { findings, header, claims, idp, signatureVerified };

  // The idp's preset checks its provider's traps and normalizes the claims policies see; its
  // findings go before the core's of the same check, so its precise reason is the one reported.
  const preset = idp && signatureVerified ? inspectWithPreset(claims, idp) : undefined;
  findings.push(...inVerificationOrder([...(preset?.findings ?? []), ...checkClaims(claims, idp, ctx.now)]));
  return { findings, header, claims: preset?.claims ?? claims, idp, signatureVerified, ...(preset && { unavailable: preset.unavailable }) };
}

/** Verifies a token for /token: the first failing check becomes the error. */
export async function verifyToken(
  raw: string,
  ctx: VerifyContext,
): Promise<VerifiedToken | { failure: FailingFinding; verifiedIdentity?: { idp: IdpConfig; iss: string; sub: string } }> {
  const inspection = await inspectToken(raw, ctx, { stopAtFirstFailure: true });
  const failure = firstFailure(inspection.findings);
  if (failure) {
    // A token refused after its signature verified (expired, wrong audience, ...) still names a
    // verified identity, so its denial can be found again by who presented it.
    const { idp, claims, signatureVerified } = inspection;
    const sub = claims?.sub;
    if (!signatureVerified || !idp || typeof sub !== 'string' || sub === '') return { failure };
    return { failure, verifiedIdentity: { idp, iss: idp.issuer, sub } };
  }
  return {
    idp: inspection.idp!,
    claims: inspection.claims as VerifiedToken['claims'],
    findings: inspection.findings,
    unavailable: inspection.unavailable ?? {},
  };
}

/** What /token and /diagnose say of a token pasted with its `Bearer ` prefix. */
export const BEARER_PREFIX_MESSAGE = 'the token starts with "Bearer ": send the bare JWT as subject_token';
export const BEARER_PREFIX = /^bearer\s+/i;

const utf8 = new TextDecoder();

/** A header or payload segment as the JSON object it must be; undefined for anything else. */
function jsonObjectSegment(segment: string, codec: CryptoPort): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(utf8.decode(codec.decodeBase64url(segment)));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The token's header and claims, each decoded once. */
function decodeToken(raw: string, codec: CryptoPort): { finding: Finding; header?: ProtectedHeaderParameters; claims?: Claims } {
  if (BEARER_PREFIX.test(raw)) return { finding: fail('format', 'ERR_TOKEN_FORMAT', BEARER_PREFIX_MESSAGE) };
  const segments = raw.split('.');
  if (segments.length === 5) {
    return { finding: fail('format', 'ERR_TOKEN_FORMAT', 'the token is encrypted (JWE); a signed JWT (JWS) is required') };
  }
  if (segments.length !== 3) {
    return { finding: fail('format', 'ERR_TOKEN_FORMAT', `not a JWT: ${segments.length} dot-separated segments, a JWT has 3`) };
  }
  if (!segments.every(isBase64url)) {
    return { finding: fail('format', 'ERR_TOKEN_FORMAT', 'not a JWT: a segment is not base64url') };
  }
  const header = jsonObjectSegment(segments[0]!, codec) as ProtectedHeaderParameters | undefined;
  if (!header) return { finding: fail('format', 'ERR_TOKEN_FORMAT', 'not a JWT: the header is not a base64url JSON object') };
  if (typeof header.alg !== 'string' || header.alg === 'none') {
    return { finding: fail('format', 'ERR_TOKEN_FORMAT', 'the token header has no signature algorithm'), header };
  }
  if (header.crit !== undefined) {
    return { finding: fail('format', 'ERR_TOKEN_FORMAT', 'the token header has critical extensions, which are not supported'), header };
  }
  const claims = jsonObjectSegment(segments[1]!, codec) as Claims | undefined;
  if (!claims) return { finding: fail('format', 'ERR_TOKEN_FORMAT', 'not a JWT: the payload is not a base64url JSON object'), header };
  return { finding: pass('format', `a signed JWT (alg ${header.alg})`, { actual: { alg: header.alg, kid: header.kid, typ: header.typ } }), header, claims };
}

function findIssuer(claims: Claims, idps: readonly IdpConfig[], findings: Finding[]): IdpConfig | undefined {
  const iss = claims.iss;
  if (typeof iss !== 'string' || iss === '') {
    findings.push(fail('issuer', 'ERR_TOKEN_CLAIM_MISSING', 'the token has no iss claim'));
    return undefined;
  }
  const idp = idps.find((candidate) => candidate.issuer === iss);
  if (!idp) {
    const named = untrustedIssuerFinding(iss, idps);
    if (named) {
      findings.push(named);
      return undefined;
    }
    findings.push(fail('issuer', 'ERR_ISSUER_UNTRUSTED', "the token's issuer is not trusted", { actual: iss }));
    return undefined;
  }
  findings.push(pass('issuer', `issuer trusted as idp "${idp.name}"`, { actual: iss, expected: idp.issuer }));
  return idp;
}

/**
 * The signature check. Only what verification can answer becomes a finding: keys that cannot be
 * fetched (IssuerKeys' ERR_KEYS_UNAVAILABLE) and jose's own errors (no matching key, algorithm,
 * a signature that does not verify). Anything else — a TypeError in a crypto port, say — is a
 * defect, thrown on to the error boundary as a logged 500, never read as "does not verify".
 */
export async function checkSignature(raw: string, header: ProtectedHeaderParameters, idp: IdpConfig, keys: IssuerKeys, crypto: CryptoPort): Promise<Finding> {
  const algorithms: readonly string[] = idp.algorithms ?? VERIFY_ALGORITHMS;
  const actual = { alg: header.alg, kid: header.kid };
  if (!algorithms.includes(header.alg!)) {
    return fail('signature', 'ERR_ALGORITHM_NOT_ALLOWED', `signature algorithm ${header.alg} is not accepted for this issuer`, {
      actual,
      expected: algorithms,
    });
  }
  let cached;
  try {
    cached = await keys.get(idp);
  } catch (err) {
    if (!(err instanceof StsError && err.code === 'ERR_KEYS_UNAVAILABLE')) throw err;
    return fail('signature', 'ERR_KEYS_UNAVAILABLE', "the issuer's signing keys cannot be fetched and none are cached; try again later", { actual });
  }
  for (let attempt = 0; ; attempt++) {
    try {
      // jose picks the key (kid, kty, alg, use); the port checks the signature (node:crypto on Node).
      await verifyCompactJws(raw, header, cached.resolver, crypto);
      return pass('signature', `signature verified with key ${header.kid ?? '(no kid)'}`, { actual });
    } catch (err) {
      if (err instanceof joseErrors.JWKSNoMatchingKey && attempt === 0) {
        const refresh = await keys.refreshForUnknownKid(idp);
        if (refresh.outcome === 'refreshed' && refresh.keys) {
          cached = refresh.keys;
          continue;
        }
        if (refresh.outcome === 'failed') {
          return fail('signature', 'ERR_KEYS_UNAVAILABLE', "the token's key id is unknown and the issuer's keys cannot be refreshed; try again later", { actual });
        }
      }
      if (err instanceof joseErrors.JWKSNoMatchingKey) {
        return fail('signature', 'ERR_KEY_NOT_FOUND', `no key of the issuer matches the token's key id ${header.kid ?? '(none)'} and algorithm`, {
          actual,
          expected: [...cached.kids],
          hint: 'the key may have been rotated away, or the token comes from another tenant or environment',
        });
      }
      if (err instanceof joseErrors.JOSEAlgNotAllowed) {
        return fail('signature', 'ERR_ALGORITHM_NOT_ALLOWED', `signature algorithm ${header.alg} is not accepted for this issuer`, { actual });
      }
      if (!(err instanceof joseErrors.JOSEError)) throw err;
      return fail('signature', 'ERR_SIGNATURE_INVALID', 'the token signature does not verify', { actual });
    }
  }
}

/** A stable sort by the contract's check order; a check whose claim is missing ranks as "required claims", before audience. */
function inVerificationOrder(findings: readonly Finding[]): Finding[] {
  const missing = new Set(findings.filter((f) => f.code === 'ERR_TOKEN_CLAIM_MISSING').map((f) => f.check));
  const rank = (f: Finding) => Math.min(CHECK_IDS.indexOf(f.check), missing.has(f.check) ? CHECK_IDS.indexOf('audience') - 0.5 : Infinity);
  return [...findings].sort((a, b) => rank(a) - rank(b));
}
