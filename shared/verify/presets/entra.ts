/**
 * `entra`: Microsoft Entra ID access tokens for one tenant: `tenant_id` on the idp, or else the
 * tenant the issuer names.
 *
 * Issuers: v1 `https://sts.windows.net/{tid}/` (with its trailing slash) and v2
 * `https://login.microsoftonline.com/{tid}/v2.0`, for the configured tenant; the sovereign-cloud
 * hosts likewise. The multi-tenant `common` / `organizations` / `consumers` endpoints are refused:
 * they would trust every tenant. `aud` is the API's client-id GUID (v2 always) or its
 * `api://...` App ID URI (v1, when the client asked for it).
 *
 * Traps refused:
 * - `tid` other than the configured tenant (ERR_TENANT_MISMATCH);
 * - a `ver` that contradicts the issuer's version (a v1 token replayed at a v2 issuer config);
 * - neither `scp` (a user token) nor `roles` (an app-only token): an ID token or a token for
 *   another resource; and `idtyp: app` with `scp`, which Entra never issues;
 * - a groups overage: with more than 200 groups (6 in the implicit flow) Entra omits `groups`
 *   and points to Microsoft Graph in `_claim_names.groups` (or sets `hasgroups`). A policy that
 *   binds `groups` then refuses with that reason instead of matching on no groups.
 */
import { fail, type Finding } from '../../checks.ts';
import { isLoopbackHost } from '../../http/urls.ts';
import type { Claims } from '../claims.ts';
import { type IdpShape, issuerUrl, type NearMiss, type Preset } from './types.ts';

const V1_HOSTS = new Set(['sts.windows.net', 'sts.chinacloudapi.cn']);
const V2_HOSTS = new Set(['login.microsoftonline.com', 'login.microsoftonline.us', 'login.chinacloudapi.cn', 'login.partner.microsoftonline.cn']);
const MULTI_TENANT = new Set(['common', 'organizations', 'consumers']);

export type EntraIssuerVersion = '1.0' | '2.0';

/**
 * The token version an issuer serves for a tenant, or a reason it is not an Entra issuer for
 * that tenant. Loopback issuers (tests) keep the path shape: `/{tid}/` or `/{tid}/v2.0`.
 */
export function entraIssuerVersion(issuer: string, tenantId: string): { version: EntraIssuerVersion } | { problem: string } {
  const url = issuerUrl(issuer);
  if (!url) return { problem: 'not a URL' };
  const segments = url.pathname.split('/');
  const tenant = segments[1] ?? '';
  if (MULTI_TENANT.has(tenant)) return { problem: `"${tenant}" is a multi-tenant endpoint; name the tenant, tokens carry it as tid` };
  if (tenant !== tenantId) return { problem: `the issuer's tenant is not tenant_id ${tenantId}` };
  const loopback = url.protocol === 'http:' && isLoopbackHost(url.hostname);
  if (url.pathname === `/${tenantId}/` && (loopback || V1_HOSTS.has(url.hostname))) return { version: '1.0' };
  if (url.pathname === `/${tenantId}/v2.0` && (loopback || V2_HOSTS.has(url.hostname))) return { version: '2.0' };
  return { problem: `use https://sts.windows.net/${tenantId}/ (v1, trailing slash) or https://login.microsoftonline.com/${tenantId}/v2.0 (v2)` };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The tenant and token version of a public or sovereign-cloud Entra issuer, from its shape alone. */
export function entraIssuerShape(issuer: string): { tid: string; version: 'v1' | 'v2' } | undefined {
  const url = issuerUrl(issuer);
  if (!url || url.protocol !== 'https:') return undefined;
  const v1 = /^\/([0-9a-f-]{36})\/$/i.exec(url.pathname);
  if (v1 && V1_HOSTS.has(url.hostname)) return { tid: v1[1]!.toLowerCase(), version: 'v1' };
  const v2 = /^\/([0-9a-f-]{36})\/v2\.0$/i.exec(url.pathname);
  if (v2 && V2_HOSTS.has(url.hostname)) return { tid: v2[1]!.toLowerCase(), version: 'v2' };
  return undefined;
}

const entraNearMiss: NearMiss = {
  issuer(tokenIss, configured) {
    const token = entraIssuerShape(tokenIss);
    const wanted = entraIssuerShape(configured);
    if (!token || !wanted) return undefined;
    return token.tid === wanted.tid ? 'issuer.entra-version' : 'issuer.entra-tenant';
  },
  audience(aud, issuer, preset, accepted) {
    if (preset !== 'entra' && !entraIssuerShape(issuer)) return undefined;
    const uriVsGuid = aud.some((a) => a.startsWith('api://')) && accepted.some((a) => GUID.test(a));
    const guidVsUri = aud.some((a) => GUID.test(a)) && accepted.some((a) => a.startsWith('api://'));
    return uriVsGuid || guidVsUri ? 'audience.entra-uri-vs-guid' : undefined;
  },
};

/** The tenant an idp trusts: `tenant_id`, else the GUID the issuer's path starts with. */
export function entraTenant(idp: Pick<IdpShape, 'issuer' | 'tenant_id'>): string | undefined {
  if (idp.tenant_id) return idp.tenant_id;
  const first = issuerUrl(idp.issuer)?.pathname.split('/')[1] ?? '';
  return GUID.test(first) ? first : undefined;
}

function isLoopbackIssuer(issuer: string): boolean {
  const url = issuerUrl(issuer);
  return url?.protocol === 'http:' && isLoopbackHost(url.hostname);
}

/** True when the token says its groups did not fit and live in Microsoft Graph instead. */
export function hasGroupsOverage(claims: Claims): boolean {
  const names = claims._claim_names;
  const inNames = names !== null && typeof names === 'object' && !Array.isArray(names) && Object.hasOwn(names, 'groups');
  return inNames || claims.hasgroups === true || claims.hasgroups === 'true';
}

function inspectClaims(claims: Claims, idp: IdpShape): Finding[] {
  const findings: Finding[] = [];
  const tenant = entraTenant(idp);
  if (tenant !== undefined && claims.tid !== tenant) {
    findings.push(fail('issuer', 'ERR_TENANT_MISMATCH', "the token's tid is not the configured tenant", { actual: claims.tid ?? null }));
  }
  const shape = tenant ? entraIssuerVersion(idp.issuer, tenant) : undefined;
  if (shape && 'version' in shape && claims.ver !== undefined && claims.ver !== shape.version) {
    findings.push(fail('issuer', 'ERR_TENANT_MISMATCH', `a v${String(claims.ver)} token at a v${shape.version} issuer: the API's accessTokenAcceptedVersion and the configured issuer disagree`, { actual: claims.ver }));
  }
  const scp = typeof claims.scp === 'string' && claims.scp !== '';
  const roles = Array.isArray(claims.roles) && claims.roles.length > 0;
  if (!scp && !roles) {
    findings.push(fail('format', 'ERR_TOKEN_TYPE_UNSUITABLE', 'an Entra token with neither scp (user) nor roles (app-only): present an access token issued for this API, not an ID token'));
  } else if (claims.idtyp === 'app' && scp) {
    findings.push(fail('format', 'ERR_TOKEN_TYPE_UNSUITABLE', 'idtyp is "app" but the token carries delegated scopes (scp)'));
  }
  return findings;
}

export const entraPreset: Preset = {
  nearMiss: entraNearMiss,
  checkConfig(idp: IdpShape) {
    const tenant = entraTenant(idp);
    if (!tenant) {
      // A loopback issuer without a tenant path (tests, development) checks no tid.
      if (isLoopbackIssuer(idp.issuer)) return [];
      const first = issuerUrl(idp.issuer)?.pathname.split('/')[1] ?? '';
      if (MULTI_TENANT.has(first)) return [`issuer: "${first}" is a multi-tenant endpoint; name the tenant, tokens carry it as tid`];
      return ['tenant_id: the issuer names no tenant; set tenant_id (the tenant GUID tokens carry as tid)'];
    }
    const shape = entraIssuerVersion(idp.issuer, tenant);
    if ('problem' in shape) return isLoopbackIssuer(idp.issuer) && !idp.tenant_id ? [] : [`issuer: ${shape.problem}`];
    if (shape.version === '2.0' && idp.audiences.every((a) => !GUID.test(a))) {
      return ['audiences: v2.0 access tokens carry the API\'s client-id GUID as aud, never an api:// URI; add the GUID'];
    }
    return [];
  },
  inspect(claims, idp) {
    const unavailable: Record<string, string> = {};
    if (hasGroupsOverage(claims)) {
      unavailable.groups = 'the token has a groups overage: Entra left out the groups (more than 200) and points to Microsoft Graph; ' +
        'a policy on groups cannot decide. Use app roles (roles) or a group filter on the app registration';
    }
    return { claims, findings: inspectClaims(claims, idp), unavailable };
  },
};
