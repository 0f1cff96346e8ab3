/**
 * `gitlab`: GitLab CI/CD `id_tokens`.
 *
 * Issuer: the instance URL, `https://gitlab.com` or a self-managed `https://HOST` or
 * `https://HOST/PATH` (relative-URL installs); never a trailing slash.
 *
 * Normalized: `ref_protected` and `environment_protected` are the strings "true"/"false" (a
 * boolean is turned into that string); null claims such as `ci_config_ref_uri` (null when the
 * pipeline config does not come from a repository) are dropped, so a policy binding them does not
 * match and a CEL `has()` says false.
 *
 * Traps refused: a protection flag that is neither "true" nor "false" — GitLab never sends one,
 * and a policy meant for protected refs must not guess.
 */
import { fail } from '../../checks.ts';
import type { Claims } from '../claims.ts';
import { type IdpShape, issuerUrl, type NearMiss, type Preset } from './types.ts';

const PROTECTION_FLAGS = ['ref_protected', 'environment_protected'] as const;

/** Config-time check of a GitLab issuer; undefined when it is acceptable. */
export function gitlabIssuerProblem(issuer: string): string | undefined {
  const url = issuerUrl(issuer);
  if (!url) return 'not a URL';
  if (issuer.endsWith('/')) return 'GitLab issuers have no trailing slash (https://gitlab.com, https://HOST or https://HOST/PATH)';
  return undefined;
}

export function normalizeGitlabClaims(claims: Claims): { claims: Claims; invalid?: string } {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(claims)) if (value !== null) out[name] = value;
  for (const flag of PROTECTION_FLAGS) {
    const value = out[flag];
    if (value === undefined) continue;
    if (value === true || value === false) out[flag] = String(value);
    else if (value !== 'true' && value !== 'false') return { claims, invalid: flag };
  }
  return { claims: out };
}

/** `www.gitlab.example.com:8443` and `gitlab.example.com` share the base `gitlab.example.com`. */
function hostBase(host: string): string {
  return host.replace(/:\d+$/, '').replace(/^www\./, '');
}

const gitlabNearMiss: NearMiss = {
  issuer(tokenIss, configured, preset) {
    const a = issuerUrl(tokenIss);
    const b = issuerUrl(configured);
    if (!a || !b || a.protocol !== b.protocol) return undefined;
    const root = (u: URL) => u.pathname === '/' || u.pathname === '';
    const gitlab = preset === 'gitlab' || a.host.includes('gitlab') || b.host.includes('gitlab');
    return gitlab && root(a) && root(b) && a.host !== b.host && hostBase(a.host) === hostBase(b.host) ? 'issuer.gitlab-host' : undefined;
  },
  audience: (_aud, _issuer, preset) => (preset === 'gitlab' ? 'audience.gitlab' : undefined),
};

export const gitlabPreset: Preset = {
  nearMiss: gitlabNearMiss,
  checkConfig(idp: IdpShape) {
    const problem = gitlabIssuerProblem(idp.issuer);
    return problem ? [`issuer: ${problem}`] : [];
  },
  inspect(claims) {
    const normalized = normalizeGitlabClaims(claims);
    const findings = normalized.invalid
      ? [fail('format', 'ERR_PRESET_CLAIM_INVALID', `claim "${normalized.invalid}" must be "true" or "false", as GitLab sends it`)]
      : [];
    return { claims: normalized.claims, findings, unavailable: {} };
  },
};
