/**
 * `spiffe`: JWT-SVIDs (SPIFFE JWT-SVID specification), e.g. from SPIRE's OIDC discovery provider.
 * `sub` is a SPIFFE ID, `spiffe://<trust-domain>/<path>`; `aud` and `exp` are required (the core
 * requires `iat` as for every token).
 *
 * Normalized: `trust_domain` and `spiffe_path` (the path, with its leading `/`) are added, so a
 * policy matches `claims: { trust_domain: example.org, spiffe_path: { pattern: "/ns/agents/*" } }`
 * or binds the whole ID with `subject` / `subject_pattern`. A token carrying either claim itself
 * is refused, so no claim can pose as the derived one.
 *
 * Traps refused:
 * - a `sub` that is not a SPIFFE ID as the specification defines it (lowercase trust domain, no
 *   port or user info, no empty, `.` or `..` segment, no query or fragment, at most 2048 bytes)
 *   (ERR_PRESET_CLAIM_INVALID);
 * - a trust domain other than the idp's `trust_domain`, when set (ERR_SPIFFE_TRUST_DOMAIN): one
 *   OIDC discovery provider may serve several trust domains' keys, the ID says which one signed.
 */
import { fail, type Finding } from '../../checks.ts';
import type { Claims } from '../claims.ts';
import type { Preset } from './types.ts';

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const MAX_ID_BYTES = 2048;

/** The trust domain and path of a SPIFFE ID, or why it is not one. */
export function parseSpiffeId(id: string): { trustDomain: string; path: string } | { problem: string } {
  if (new TextEncoder().encode(id).byteLength > MAX_ID_BYTES) return { problem: `longer than ${MAX_ID_BYTES} bytes` };
  if (!id.startsWith('spiffe://')) return { problem: 'the scheme is not spiffe://' };
  const rest = id.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  if (trustDomain === '' || !TRUST_DOMAIN.test(trustDomain)) {
    return { problem: 'the trust domain must be lowercase letters, digits, dots, dashes and underscores (no port or user info)' };
  }
  if (path !== '') {
    const segments = path.slice(1).split('/');
    for (const segment of segments) {
      if (segment === '' || segment === '.' || segment === '..' || !SEGMENT.test(segment)) {
        return { problem: 'a path segment is empty, "." or "..", or has a character outside letters, digits, dots, dashes and underscores' };
      }
    }
  }
  return { trustDomain, path };
}

function inspectClaims(claims: Claims, trustDomain: string | undefined): { flat: Record<string, string>; findings: Finding[] } {
  const findings: Finding[] = [];
  for (const name of ['trust_domain', 'spiffe_path']) {
    if (Object.hasOwn(claims, name)) findings.push(fail('format', 'ERR_PRESET_CLAIM_INVALID', `a JWT-SVID has no "${name}" claim; the preset derives it from sub`));
  }
  if (typeof claims.sub !== 'string') return { flat: {}, findings };
  const parsed = parseSpiffeId(claims.sub);
  if ('problem' in parsed) {
    findings.push(fail('format', 'ERR_PRESET_CLAIM_INVALID', `sub is not a SPIFFE ID: ${parsed.problem}`, { actual: claims.sub }));
    return { flat: {}, findings };
  }
  if (trustDomain !== undefined && parsed.trustDomain !== trustDomain) {
    findings.push(fail('issuer', 'ERR_SPIFFE_TRUST_DOMAIN', `the SPIFFE ID's trust domain "${parsed.trustDomain}" is not the idp's`, { actual: parsed.trustDomain }));
  }
  return { flat: { trust_domain: parsed.trustDomain, spiffe_path: parsed.path }, findings };
}

export const spiffePreset: Preset = {
  checkConfig(idp) {
    if (idp.trust_domain !== undefined && !TRUST_DOMAIN.test(idp.trust_domain)) {
      return ['trust_domain: must be lowercase letters, digits, dots, dashes and underscores'];
    }
    return [];
  },
  inspect(claims, idp) {
    const { flat, findings } = inspectClaims(claims, idp.trust_domain);
    return { claims: { ...claims, ...flat }, findings, unavailable: {} };
  },
};
