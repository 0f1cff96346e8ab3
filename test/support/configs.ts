/**
 * Config documents the suites share: the `ci-main` policy most of them grant against, the policy
 * set of the /token and /diagnose specifications, the signing-keys env and the one-IdP audited
 * config of the Node end-to-end suites. Each piece is the YAML an operator would write.
 */
import { join } from 'node:path';
import { parse } from 'yaml';
import { generatePrivateJwks } from '../../shared/keys/signing-keys.ts';

/**
 * The `ci-main` policy as a YAML list item (under `policies:`): main of acme/app, owner acme, to
 * argo-prod, namespace ci, submit and read, at most 15 min. Append lines (delegation, say) to it.
 */
export const CI_MAIN_POLICY_YAML = `  - id: ci-main
    idp: github
    target: argo-prod
    subject: repo:acme/app:ref:refs/heads/main
    claims: { repository_owner: acme }
    namespaces: [ci]
    scopes: [argo:submit, argo:read]
    max_ttl: 15m`;

/** The same `ci-main` policy as a plain object, for configs built as JSON. */
export function ciMainPolicy(): Record<string, unknown> {
  return (parse(CI_MAIN_POLICY_YAML) as Record<string, unknown>[])[0]!;
}

/** Read-only access for any branch of any acme repository, to argo-prod or argo-dev (ci or staging). */
export const CI_READ_ANY_BRANCH_POLICY_YAML = `  - id: ci-read-any-branch
    idp: github
    target: [argo-prod, argo-dev]
    subject_pattern: "repo:acme/*"
    claims: { repository_owner: acme }
    namespaces: [ci, staging]
    scopes: [argo:read]`;

/** Platform engineers (Keycloak group) on argo-dev, namespace dev, who may delegate to agent-7. */
export const PEOPLE_POLICY_YAML = `  - id: people
    idp: keycloak
    target: argo-dev
    claims: { groups: platform-engineers }
    namespaces: [dev]
    scopes: [argo:manage, argo:read]
    delegation:
      actors:
        - { idp: keycloak, subject: agent-7 }`;

/**
 * The policy set of the /token and /diagnose specifications (idps `github` and `keycloak`,
 * targets `argo-prod` and `argo-dev`): ci-main, ci-read-any-branch, people, in that order.
 */
export const GITHUB_KEYCLOAK_POLICIES_YAML = `policies:
${CI_MAIN_POLICY_YAML}
${CI_READ_ANY_BRANCH_POLICY_YAML}
${PEOPLE_POLICY_YAML}
`;

/** A fresh ES256 signing key set, as the `SIGNING_KEYS` env a config's `env:SIGNING_KEYS` reads. */
export async function signingKeysEnv(): Promise<{ SIGNING_KEYS: string }> {
  return { SIGNING_KEYS: JSON.stringify(await generatePrivateJwks('ES256')) };
}

/**
 * One GitHub IdP, one target, `ci-main` without claim conditions (submit only), and a SQLite
 * audit sink at `dir/audit.db`: the config the Node end-to-end audit suites start with.
 */
export function auditedGithubConfig(opts: { issuer: string; githubIssuer: string; dir: string }): string {
  return `
issuer: ${opts.issuer}
signing: { alg: ES256, keys: env:SIGNING_KEYS }
idps:
  - { name: github, issuer: ${opts.githubIssuer}, audiences: [argo-sts], preset: github-actions }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - { id: ci-main, idp: github, target: argo-prod, subject: "repo:acme/app:ref:refs/heads/main", namespaces: [ci], scopes: [argo:submit] }
audit: { sink: "sqlite:${join(opts.dir, 'audit.db')}" }
`;
}
