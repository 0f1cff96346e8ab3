/**
 * `github-actions`: GitHub Actions OIDC tokens.
 *
 * Issuers: `https://token.actions.githubusercontent.com` (github.com), the same with an
 * enterprise slug (`.../<slug>`, when the enterprise customizes its issuer),
 * `https://token.actions.<subdomain>.ghe.com` (GHE.com data residency) and GitHub Enterprise
 * Server's `https://HOST/_services/token`. Never a trailing slash.
 *
 * Normalized: GitHub sends every claim but `aud`, `exp`, `iat` and `nbf` as a string (ids,
 * `ref_protected`, run numbers); a number or boolean in such a claim is turned into its string,
 * so exact matches and CEL conditions see one type (`claims.run_attempt == "1"`).
 *
 * Traps refused:
 * - a `sub` that contradicts the token's own claims. `sub` is `repo:OWNER/REPO:<context>` or, for
 *   repositories created from 2026-07-15, the immutable `repo:OWNER@OWNER_ID/REPO@REPO_ID:<context>`;
 *   in the immutable form the ids must equal `repository_owner_id` / `repository_id` and
 *   `OWNER/REPO` the `repository` claim; an `environment:` context (with `:` inside the name
 *   encoded as `%3A`) must equal the `environment` claim. Customized subject templates (not
 *   starting `repo:`) are left alone.
 */
import { isLoopbackHost } from '../../http/urls.ts';
import { fail, type Finding } from '../../checks.ts';
import type { Claims } from '../claims.ts';
import { type IdpShape, issuerUrl, type NearMiss, type Preset } from './types.ts';

export type GithubIssuerKind = 'github.com' | 'enterprise-slug' | 'ghe.com' | 'enterprise-server' | 'loopback' | 'unknown';

const CLOUD_HOST = 'token.actions.githubusercontent.com';
const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const GHE_COM_HOST = /^token\.actions\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.ghe\.com$/;
/** Claims GitHub sends as JSON numbers or arrays; every other claim is a string. */
const NON_STRING_CLAIMS = new Set(['aud', 'exp', 'iat', 'nbf']);

/** What kind of GitHub issuer a URL is. Pure; used at config load. */
export function githubIssuerKind(issuer: string): GithubIssuerKind {
  const url = issuerUrl(issuer);
  if (!url || url.search || url.hash || issuer.endsWith('/')) return 'unknown';
  if (url.protocol === 'http:') return isLoopbackHost(url.hostname) ? 'loopback' : 'unknown';
  if (url.protocol !== 'https:' || url.port !== '') return 'unknown';
  if (url.hostname === CLOUD_HOST) {
    if (url.pathname === '/') return 'github.com';
    const slug = url.pathname.slice(1);
    return SLUG.test(slug) ? 'enterprise-slug' : 'unknown';
  }
  if (GHE_COM_HOST.test(url.hostname) && url.pathname === '/') return 'ghe.com';
  if (url.pathname === '/_services/token') return 'enterprise-server';
  return 'unknown';
}

export interface GithubSubject {
  readonly owner: string;
  readonly repo: string;
  /** Set in the immutable form `repo:OWNER@OWNER_ID/REPO@REPO_ID:...`. */
  readonly ownerId?: string;
  readonly repoId?: string;
  /** `environment`, `ref`, `pull_request`, or another context kind GitHub adds later. */
  readonly context: string;
  /** The context's value, with `%3A` decoded to `:` (empty for `pull_request`). */
  readonly value: string;
}

const REPO_PART = /^([A-Za-z0-9-]+)(?:@(\d+))?\/([A-Za-z0-9._-]+)(?:@(\d+))?$/;

/** Parses a `repo:` subject; undefined for a customized template or a malformed one. */
export function parseGithubSubject(sub: string): GithubSubject | undefined {
  if (!sub.startsWith('repo:')) return undefined;
  const rest = sub.slice('repo:'.length);
  const colon = rest.indexOf(':');
  if (colon < 0) return undefined;
  const repoPart = REPO_PART.exec(rest.slice(0, colon));
  if (!repoPart) return undefined;
  const [, owner, ownerId, repo, repoId] = repoPart;
  if ((ownerId === undefined) !== (repoId === undefined)) return undefined;
  const contextText = rest.slice(colon + 1);
  const sep = contextText.indexOf(':');
  const context = sep < 0 ? contextText : contextText.slice(0, sep);
  const value = sep < 0 ? '' : contextText.slice(sep + 1).replaceAll('%3A', ':').replaceAll('%3a', ':');
  return { owner: owner!, repo: repo!, ownerId, repoId, context, value };
}

function refuse(message: string): Finding {
  return fail('format', 'ERR_PRESET_CLAIM_INVALID', message);
}

/** Scalar claims as the strings GitHub sends; `aud` and the times untouched. */
export function normalizeGithubClaims(claims: Claims): Claims {
  let out: Record<string, unknown> | undefined;
  for (const name in claims) {
    if (!Object.hasOwn(claims, name)) continue;
    const value = claims[name];
    if (!NON_STRING_CLAIMS.has(name) && (typeof value === 'number' || typeof value === 'boolean')) {
      out ??= { ...claims };
      out[name] = String(value);
    }
  }
  return out ?? claims;
}

function inspectClaims(claims: Claims): Finding[] {
  const sub = typeof claims.sub === 'string' ? parseGithubSubject(claims.sub) : undefined;
  if (!sub) return [];
  const contradicts = (what: string) => [refuse(`sub contradicts the token's ${what} claim`)];
  if (sub.ownerId !== undefined) {
    if (sub.ownerId !== claims.repository_owner_id) return contradicts('repository_owner_id');
    if (sub.repoId !== claims.repository_id) return contradicts('repository_id');
    if (typeof claims.repository === 'string' && `${sub.owner}/${sub.repo}` !== claims.repository) return contradicts('repository');
  }
  if (sub.context === 'environment' && typeof claims.environment === 'string' && sub.value !== claims.environment) return contradicts('environment');
  return [];
}

const githubNearMiss: NearMiss = {
  issuer(tokenIss, configured) {
    const a = issuerUrl(tokenIss);
    const b = issuerUrl(configured);
    if (!a || !b || a.protocol !== b.protocol || a.host !== CLOUD_HOST || b.host !== CLOUD_HOST) return undefined;
    const path = (u: URL) => u.pathname.replace(/\/+$/, '');
    const oneSegment = (u: URL) => u.pathname.split('/').length <= 2;
    return path(a) !== path(b) && oneSegment(a) && oneSegment(b) ? 'issuer.github-enterprise-slug' : undefined;
  },
  audience(aud, issuer, preset) {
    if (preset !== 'github-actions' && issuerUrl(issuer)?.host !== CLOUD_HOST) return undefined;
    return aud.some((a) => /^https:\/\/github\.com\/[^/]+\/?$/.test(a)) ? 'audience.github-default' : undefined;
  },
};

export const githubActionsPreset: Preset = {
  nearMiss: githubNearMiss,
  checkConfig(idp: IdpShape) {
    // The owner URL is what every job's token carries when it asks for no audience, so any action
    // of any workflow holds one; accepting it is accepting tokens minted for something else.
    const defaults = idp.audiences.flatMap((aud, i) => /^https:\/\/github\.com\/[^/]+\/?$/.test(aud)
      ? [`audiences[${i}]: "${aud}" is GitHub's default audience: every job of that owner gets a token for it without asking, so any action could present one; request a dedicated audience (core.getIDToken('argo-sts'), argo-sts exchange --token-audience) and list that, e.g. argo-sts`]
      : []);
    if (githubIssuerKind(idp.issuer) !== 'unknown') return defaults;
    return [...defaults,
      'issuer: not a GitHub Actions issuer: use https://token.actions.githubusercontent.com (no trailing slash), ' +
        'https://token.actions.githubusercontent.com/<enterprise-slug>, https://token.actions.<subdomain>.ghe.com ' +
        'or GitHub Enterprise Server\'s https://HOST/_services/token',
    ];
  },
  inspect(claims) {
    const normalized = normalizeGithubClaims(claims);
    return { claims: normalized, findings: inspectClaims(normalized), unavailable: {} };
  },
};
