/**
 * Near misses: why a token's issuer, audience or format is not accepted, named as a catalogue
 * cause. The generic rules (trailing slash, scheme, case) are here; each provider's are its
 * preset's (verify/presets/, `nearMiss`), so the presets and /diagnose read one set of shapes.
 */
import { decodeProtectedHeader } from 'jose';
import type { Finding } from '../checks.ts';
import { entraIssuerShape } from '../verify/presets/entra.ts';
import { NEAR_MISSES } from '../verify/presets/index.ts';
import { BEARER_PREFIX } from '../verify/verify-subject-token.ts';
import { type Cause, causeById } from './catalogue.ts';

/** Which near miss separates a token's issuer from one configured issuer, if any. */
export function issuerNearMissCause(tokenIss: string, configured: string, preset?: string): Cause | undefined {
  if (tokenIss === configured) return undefined;
  const strip = (s: string) => s.replace(/\/+$/, '');
  if (strip(tokenIss) === strip(configured)) return causeById('issuer.trailing-slash');
  const swapScheme = (s: string) => s.replace(/^https?:/i, (m) => (m.toLowerCase() === 'http:' ? 'https:' : 'http:'));
  if (swapScheme(tokenIss) === configured) return causeById('issuer.scheme');
  if (tokenIss.toLowerCase() === configured.toLowerCase()) return causeById('issuer.case');
  for (const nearMiss of NEAR_MISSES) {
    const id = nearMiss.issuer?.(tokenIss, configured, preset);
    if (id) return causeById(id);
  }
  return undefined;
}

/** The configured issuer a token's issuer nearly names, with the cause; the first in config order. */
export function findIssuerNearMiss<T extends { readonly issuer: string; readonly preset?: string }>(
  tokenIss: string,
  idps: readonly T[],
): { idp: T; cause: Cause } | undefined {
  for (const idp of idps) {
    const found = issuerNearMissCause(tokenIss, idp.issuer, idp.preset);
    if (found) return { idp, cause: found };
  }
  return undefined;
}

/** Entra v1 or v2, for the wording of the entra-version hint. */
export function entraVersion(issuer: string): 'v1' | 'v2' | undefined {
  return entraIssuerShape(issuer)?.version;
}

/** The known cause of an audience failure, from the token's aud, its issuer and the idp preset. */
export function audienceCause(aud: readonly string[], issuer: string, preset: string | undefined, accepted: readonly string[]): Cause {
  for (const nearMiss of NEAR_MISSES) {
    const id = nearMiss.audience?.(aud, issuer, preset, accepted);
    if (id) return causeById(id);
  }
  return causeById(aud.length === 0 ? 'audience.missing' : 'audience.mismatch');
}

/** The cause of a format failure, from the finding's code and the raw token's shape (facts about it only). */
export function formatCause(raw: string, finding: Pick<Finding, 'code'>): Cause {
  if (BEARER_PREFIX.test(raw)) return causeById('format.bearer-prefix');
  const segments = raw.split('.').length;
  if (segments === 5) return causeById('format.jwe');
  if (segments !== 3) return causeById('format.segments');
  if (finding.code === 'ERR_TOKEN_CLAIM_MISSING') return causeById('format.missing-sub');
  try {
    const header = decodeProtectedHeader(raw);
    if (typeof header.alg !== 'string' || header.alg === 'none' || header.crit !== undefined) return causeById('format.unsigned');
  } catch {
    // an undecodable header: an encoding problem
  }
  return causeById('format.encoding');
}
