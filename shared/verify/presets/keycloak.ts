/**
 * `keycloak`: Keycloak realm tokens.
 *
 * Issuer: `https://HOST/realms/<realm>` (Keycloak 17+) or `https://HOST/auth/realms/<realm>`
 * (before 17, or with the legacy `/auth` context path). Loopback issuers (tests, development)
 * may have any path.
 *
 * Normalized: `groups` may carry full paths (`/parent/child`, "Full group path" on) or bare
 * names. A top-level full path `/name` also matches a policy's `name`; a nested one matches only
 * its full path, because bare names of nested groups are ambiguous (`/a/ops` vs `/b/ops`).
 *
 * Traps refused:
 * - `aud` only `account` (or absent): the realm has no audience mapper for this client. Every
 *   token of the realm carries `account`, so it proves nothing; the reason says to add one.
 * - `typ` other than `Bearer` (access token) or `ID` (ID token): refresh, logout and offline
 *   tokens are not credentials.
 * Config: `audiences` containing `account` is refused for the same reason.
 */
import { fail, type Finding } from '../../checks.ts';
import { isLoopbackHost } from '../../http/urls.ts';
import type { Claims } from '../claims.ts';
import { type IdpShape, issuerUrl, type NearMiss, type Preset } from './types.ts';

const REALM_PATH = /^(?:\/auth)?\/realms\/[^/]+$/;
const ACCEPTED_TYP = new Set(['Bearer', 'ID']);

/** The realm of a Keycloak issuer, or undefined when the issuer is not shaped like one. */
export function keycloakRealm(issuer: string): string | undefined {
  const url = issuerUrl(issuer);
  if (!url || !REALM_PATH.test(url.pathname)) return undefined;
  return decodeURIComponent(url.pathname.slice(url.pathname.lastIndexOf('/') + 1));
}

/** The `/auth` prefix and realm of a Keycloak-shaped issuer path (a trailing slash tolerated). */
function realmPath(issuer: string): { origin: string; prefix: string; realm: string } | undefined {
  const url = issuerUrl(issuer);
  const match = url && /^(\/auth)?\/realms\/([^/]+)\/?$/.exec(url.pathname);
  return match ? { origin: `${url.protocol}//${url.host.toLowerCase()}`, prefix: match[1] ?? '', realm: match[2]! } : undefined;
}

const keycloakNearMiss: NearMiss = {
  issuer(tokenIss, configured) {
    const token = realmPath(tokenIss);
    const wanted = realmPath(configured);
    if (!token || !wanted || token.origin !== wanted.origin) return undefined;
    if (token.realm !== wanted.realm) return 'issuer.keycloak-realm';
    return token.prefix !== wanted.prefix ? 'issuer.keycloak-auth-path' : undefined;
  },
  audience(aud, issuer, preset) {
    if (preset !== 'keycloak' && !realmPath(issuer)) return undefined;
    return aud.every((a) => a === 'account') ? 'audience.keycloak-no-mapper' : undefined;
  },
};

/** Adds the bare name of each top-level full-path group. */
export function normalizeKeycloakGroups(groups: unknown): unknown {
  if (!Array.isArray(groups)) return groups;
  const out = [...groups];
  for (const g of groups) {
    if (typeof g === 'string' && /^\/[^/]+$/.test(g) && !out.includes(g.slice(1))) out.push(g.slice(1));
  }
  return out;
}

function audiences(aud: unknown): string[] {
  if (typeof aud === 'string') return [aud];
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}

function inspectClaims(claims: Claims, idp: IdpShape): Finding[] {
  const findings: Finding[] = [];
  const aud = audiences(claims.aud);
  if ((aud.length === 0 || aud.every((a) => a === 'account')) && !aud.some((a) => idp.audiences.includes(a))) {
    findings.push(fail('audience', 'ERR_AUDIENCE_NO_MAPPER',
      `the token's audience is ${aud.length ? '"account" only' : 'absent'}: the realm has no audience mapper for this client; add an Audience mapper (Client scopes → dedicated scope) that adds the broker's audience`,
      { actual: claims.aud ?? null }));
  }
  if (claims.typ !== undefined && !ACCEPTED_TYP.has(claims.typ as string)) {
    findings.push(fail('format', 'ERR_TOKEN_TYPE_UNSUITABLE', `a Keycloak ${JSON.stringify(claims.typ)} token is not a credential; present an access (Bearer) or ID token`, { actual: claims.typ }));
  }
  return findings;
}

export const keycloakPreset: Preset = {
  nearMiss: keycloakNearMiss,
  checkConfig(idp: IdpShape) {
    const issues: string[] = [];
    const url = issuerUrl(idp.issuer);
    const loopback = url?.protocol === 'http:' && isLoopbackHost(url.hostname);
    if (keycloakRealm(idp.issuer) === undefined && !loopback) {
      issues.push('issuer: not a Keycloak realm issuer: use https://HOST/realms/<realm> (or https://HOST/auth/realms/<realm> before Keycloak 17), no trailing slash');
    }
    if (idp.audiences.includes('account')) {
      issues.push('audiences: "account" is in every token of the realm and proves nothing; add an audience mapper and accept its audience');
    }
    return issues;
  },
  inspect(claims, idp) {
    const normalized = claims.groups === undefined ? claims : { ...claims, groups: normalizeKeycloakGroups(claims.groups) };
    return { claims: normalized, findings: inspectClaims(claims, idp), unavailable: {} };
  },
};
