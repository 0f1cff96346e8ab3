/**
 * ServiceAccount tokens for the workerd suites: the kubernetes-serviceaccount fixture's claims,
 * issued now, signed by the loopback cluster issuer that global-setup.ts started.
 */
import { importJWK, SignJWT } from 'jose';
import { inject } from 'vitest';
import saClaims from '../fixtures/claims/kubernetes-serviceaccount.json';

/** A bound ServiceAccount token from the loopback cluster, with `overrides` applied last. */
export async function signServiceAccount(overrides: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const jwk = JSON.parse(inject('clusterPrivateJwk'));
  const key = await importJWK(jwk, 'RS256');
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(saClaims)) if (!k.startsWith('_')) claims[k] = v;
  Object.assign(claims, { iss: inject('clusterIssuer'), iat: now, nbf: now, exp: now + 600, jti: crypto.randomUUID() }, overrides);
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: jwk.kid, ...header }).sign(key);
}
