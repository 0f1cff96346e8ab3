/**
 * The issuer shapes and claim normalizations of the presets, as pure functions, and the config
 * errors they raise at load. Real issuers are https hosts that tests cannot reach; these tables
 * hold the providers' published issuer forms.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/config/parse-config.ts';
import { parseConfig } from '../../shared/broker/load-config.ts';
import { entraIssuerVersion, hasGroupsOverage } from '../../shared/verify/presets/entra.ts';
import { githubIssuerKind, normalizeGithubClaims, parseGithubSubject } from '../../shared/verify/presets/github-actions.ts';
import { gitlabIssuerProblem, normalizeGitlabClaims } from '../../shared/verify/presets/gitlab.ts';
import { keycloakRealm, normalizeKeycloakGroups } from '../../shared/verify/presets/keycloak.ts';

const TENANT = '8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b';

describe('github-actions issuers', () => {
  it.each([
    ['https://token.actions.githubusercontent.com', 'github.com'],
    ['https://token.actions.githubusercontent.com/acme-corp', 'enterprise-slug'],
    ['https://token.actions.octocorp.ghe.com', 'ghe.com'],
    ['https://github.acme.internal/_services/token', 'enterprise-server'],
    ['http://127.0.0.1:8080', 'loopback'],
    ['https://token.actions.githubusercontent.com/', 'unknown'],
    ['https://token.actions.githubusercontent.com/acme/extra', 'unknown'],
    ['https://token.actions.githubusercontent.com.evil.example', 'unknown'],
    ['https://github.acme.internal/_services/token/', 'unknown'],
    ['http://token.actions.githubusercontent.com', 'unknown'],
  ])('%s is %s', (issuer, kind) => {
    expect(githubIssuerKind(issuer)).toBe(kind);
  });
});

describe('github-actions subjects', () => {
  it('parses the mutable form with a ref', () => {
    expect(parseGithubSubject('repo:acme/app:ref:refs/heads/main')).toEqual({ owner: 'acme', repo: 'app', ownerId: undefined, repoId: undefined, context: 'ref', value: 'refs/heads/main' });
  });
  it('parses the immutable form with ids', () => {
    expect(parseGithubSubject('repo:acme@7654321/app@690123456:pull_request')).toMatchObject({ owner: 'acme', ownerId: '7654321', repo: 'app', repoId: '690123456', context: 'pull_request', value: '' });
  });
  it('decodes %3A inside an environment name', () => {
    expect(parseGithubSubject('repo:acme/app:environment:prod%3Aeu%3A1')?.value).toBe('prod:eu:1');
  });
  it('leaves customized subject templates and half-immutable forms unparsed', () => {
    expect(parseGithubSubject('repository_owner:acme:environment:prod')).toBeUndefined();
    expect(parseGithubSubject('repo:acme@1/app:ref:refs/heads/main')).toBeUndefined();
  });
});

describe('github-actions claims', () => {
  it('turns numbers and booleans into strings, leaving aud, times, lists and objects alone', () => {
    expect(normalizeGithubClaims({ aud: ['a'], exp: 5, iat: 1, run_attempt: 2, ref_protected: true, repository: 'acme/app', x: ['1'], y: { a: 1 } })).toEqual({
      aud: ['a'], exp: 5, iat: 1, run_attempt: '2', ref_protected: 'true', repository: 'acme/app', x: ['1'], y: { a: 1 },
    });
  });
});

describe('gitlab', () => {
  it('accepts issuers with or without a path and refuses a trailing slash', () => {
    expect(gitlabIssuerProblem('https://gitlab.com')).toBeUndefined();
    expect(gitlabIssuerProblem('https://code.acme.internal/gitlab')).toBeUndefined();
    expect(gitlabIssuerProblem('https://gitlab.com/')).toMatch(/trailing slash/);
  });
  it('turns boolean protection flags into "true"/"false" and drops null claims', () => {
    expect(normalizeGitlabClaims({ ref_protected: true, environment_protected: false, ci_config_ref_uri: null, ref: 'main' })).toEqual({
      claims: { ref_protected: 'true', environment_protected: 'false', ref: 'main' },
    });
  });
  it('names a protection flag that is neither "true" nor "false"', () => {
    expect(normalizeGitlabClaims({ ref_protected: '1' }).invalid).toBe('ref_protected');
  });
});

describe('keycloak', () => {
  it.each([
    ['https://sso.acme.com/realms/platform', 'platform'],
    ['https://sso.acme.com/auth/realms/platform', 'platform'],
    ['https://sso.acme.com/realms/platform/', undefined],
    ['https://sso.acme.com/platform', undefined],
    ['https://sso.acme.com/realms/a/b', undefined],
  ])('the realm of %s is %s', (issuer, realm) => {
    expect(keycloakRealm(issuer)).toBe(realm);
  });
  it('adds bare names for top-level full-path groups only', () => {
    expect(normalizeKeycloakGroups(['/ops', '/org/sre', 'devs'])).toEqual(['/ops', '/org/sre', 'devs', 'ops']);
  });
});

describe('entra', () => {
  it.each([
    [`https://sts.windows.net/${TENANT}/`, '1.0'],
    [`https://login.microsoftonline.com/${TENANT}/v2.0`, '2.0'],
    [`https://login.microsoftonline.us/${TENANT}/v2.0`, '2.0'],
  ])('%s serves v%s tokens', (issuer, version) => {
    expect(entraIssuerVersion(issuer, TENANT)).toEqual({ version });
  });
  it.each([
    [`https://sts.windows.net/${TENANT}`, /use https/],
    [`https://login.microsoftonline.com/${TENANT}/v2.0/`, /use https/],
    ['https://login.microsoftonline.com/common/v2.0', /multi-tenant/],
    ['https://login.microsoftonline.com/organizations/v2.0', /multi-tenant/],
    ['https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0', /tenant/],
    [`https://login.evil.example/${TENANT}/v2.0`, /use https/],
  ])('refuses %s', (issuer, problem) => {
    const shape = entraIssuerVersion(issuer, TENANT);
    expect('problem' in shape && shape.problem).toMatch(problem);
  });
  it('sees a groups overage in _claim_names or hasgroups', () => {
    expect(hasGroupsOverage({ _claim_names: { groups: 'src1' } })).toBe(true);
    expect(hasGroupsOverage({ hasgroups: true })).toBe(true);
    expect(hasGroupsOverage({ groups: ['a'] })).toBe(false);
  });
});

function issuesOf(idp: Record<string, unknown>): string[] {
  try {
    parseConfig({
      issuer: 'https://sts.example.com',
      signing: { keys: 'generate' },
      idps: [{ name: 'idp', audiences: ['argo-sts'], ...idp }],
      targets: [{ name: 'argo', kind: 'kubernetes-oidc', audience: 'kubernetes' }],
      policies: [],
    });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
}

describe('preset checks at config load, each naming its path', () => {
  it('refuses a GitHub issuer with a trailing slash', () => {
    expect(issuesOf({ preset: 'github-actions', issuer: 'https://token.actions.githubusercontent.com/' })).toEqual([
      expect.stringMatching(/^idps\[0\]\.issuer: not a GitHub Actions issuer/),
    ]);
  });
  it('refuses a Keycloak idp that accepts aud "account"', () => {
    expect(issuesOf({ preset: 'keycloak', issuer: 'https://sso.acme.com/realms/p', audiences: ['account'] })).toEqual([
      expect.stringMatching(/^idps\[0\]\.audiences: "account" is in every token/),
    ]);
  });
  it('takes the entra tenant from the issuer, requires tenant_id when the issuer names none, and refuses it elsewhere', () => {
    expect(issuesOf({ preset: 'entra', issuer: `https://sts.windows.net/${TENANT}/` })).toEqual([]);
    expect(issuesOf({ preset: 'entra', issuer: `https://sts.windows.net/${TENANT}/`, tenant_id: '00000000-0000-0000-0000-000000000000' })).toEqual([
      expect.stringMatching(/^idps\[0\]\.issuer: the issuer's tenant is not tenant_id/),
    ]);
    expect(issuesOf({ preset: 'entra', issuer: 'https://login.microsoftonline.com/v2.0' })).toEqual([expect.stringMatching(/^idps\[0\]\.tenant_id: the issuer names no tenant/)]);
    expect(issuesOf({ preset: 'generic', issuer: 'https://idp.example.com', tenant_id: TENANT })).toEqual([expect.stringMatching(/^idps\[0\]\.tenant_id: only the entra preset/)]);
  });
  it('refuses a v2 Entra idp whose audiences hold only api:// URIs', () => {
    expect(issuesOf({ preset: 'entra', tenant_id: TENANT, issuer: `https://login.microsoftonline.com/${TENANT}/v2.0`, audiences: ['api://argo-sts'] })).toEqual([
      expect.stringMatching(/^idps\[0\]\.audiences: v2.0 access tokens carry the API's client-id GUID/),
    ]);
  });
  it('refuses the multi-tenant "common" issuer for entra, with or without tenant_id', () => {
    expect(issuesOf({ preset: 'entra', tenant_id: TENANT, issuer: 'https://login.microsoftonline.com/common/v2.0' })).toEqual([expect.stringMatching(/multi-tenant/)]);
    expect(issuesOf({ preset: 'entra', issuer: 'https://login.microsoftonline.com/organizations/v2.0' })).toEqual([expect.stringMatching(/multi-tenant/)]);
  });
  it('accepts loopback issuers of any path for keycloak and entra (tests, development)', () => {
    expect(issuesOf({ preset: 'keycloak', issuer: 'http://127.0.0.1:8080' })).toEqual([]);
    expect(issuesOf({ preset: 'entra', issuer: 'http://127.0.0.1:8080' })).toEqual([]);
  });
});
