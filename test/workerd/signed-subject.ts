/**
 * Subject tokens for the workerd suites: the GitHub Actions fixture's claims, issued now and
 * valid for 5 min, signed (RS256) by the loopback IdP that global-setup.ts started and hands in
 * through `inject`. Lives beside the suites because only they get that IdP's key.
 */
import { importJWK, SignJWT } from 'jose';
import { inject } from 'vitest';
import githubClaims from '../fixtures/claims/github-actions.json';

/** A GitHub Actions–shaped token from the loopback IdP, with `overrides` applied last. */
export async function signSubject(overrides: Record<string, unknown> = {}): Promise<string> {
  const jwk = JSON.parse(inject('idpPrivateJwk'));
  const key = await importJWK(jwk, 'RS256');
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(githubClaims)) if (!k.startsWith('_')) claims[k] = v;
  Object.assign(claims, { iss: inject('idpIssuer'), iat: now, nbf: now - 600, exp: now + 300 }, overrides);
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: jwk.kid }).sign(key);
}
