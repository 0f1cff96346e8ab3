/**
 * The one catalogue of checks: what each check verifies, every known cause of a failure, and the
 * hint that fixes it. It feeds POST /diagnose, the /diagnose page, `argo-sts diagnose` and
 * docs/troubleshooting.md (generated from it by `npm run docs:troubleshooting`), so they cannot
 * drift apart.
 *
 * A hint is a function of facts. Rendered without facts (for the docs) it names placeholders;
 * rendered by /diagnose it names the token's values and, when disclosure allows, the configured
 * ones. `discloses` marks hints that name configuration (accepted issuers, audiences, key ids):
 * /diagnose shows those only under its disclosure rule.
 */
import { type CheckId, type ErrorCode, type WireCheck } from '../errors.ts';

export interface HintFacts {
  /** The value the token (or request) presented. */
  readonly actual?: string | undefined;
  /** The configured value it should have matched. */
  readonly expected?: string | undefined;
  readonly seconds?: number | undefined;
  readonly leeway?: number | undefined;
  /** ISO 8601 server time. */
  readonly serverTime?: string | undefined;
  /** A claim time (exp, nbf, iat) as ISO 8601. */
  readonly at?: string | undefined;
  /** Free detail, e.g. why a key fetch failed. */
  readonly detail?: string | undefined;
}

export interface Cause {
  /** Stable id, e.g. `issuer.trailing-slash`; also the docs anchor. */
  readonly id: string;
  /** The symptom, as a person would describe it. */
  readonly title: string;
  /** The error codes /token answers with for this cause, if it refuses. */
  readonly codes: readonly ErrorCode[];
  /** True when the hint names configuration values: shown only when disclosure allows. */
  readonly discloses: boolean;
  /** The message /diagnose shows, when the catalogue words it (time checks). */
  readonly message?: (facts: HintFacts) => string;
  readonly hint: (facts: HintFacts) => string;
}

export interface CheckEntry<Id extends WireCheck = CheckId> {
  readonly id: Id;
  readonly title: string;
  readonly verifies: string;
  readonly causes: readonly Cause[];
}

const or = (value: string | undefined, placeholder: string) => value ?? placeholder;
const ARGO_CLIENT_MODE =
  'Argo Server must run with `--auth-mode=client`; the CLI and UI send the minted token as `ARGO_TOKEN="Bearer <access_token>"` (the `Bearer ` prefix is required).';

function cause(id: string, title: string, hint: Cause['hint'], extra: Partial<Omit<Cause, 'id' | 'title' | 'hint'>> = {}): Cause {
  return { id, title, hint, codes: extra.codes ?? [], discloses: extra.discloses ?? false, ...(extra.message && { message: extra.message }) };
}

export const CHECK_CATALOGUE: readonly CheckEntry[] = [
  {
    id: 'format',
    title: 'Token format',
    verifies: 'The subject token is a signed JWT (JWS compact serialization: three base64url segments, a JSON header with an asymmetric `alg`, a JSON object payload) with a `sub` claim, at most 16 KiB.',
    causes: [
      cause('format.missing', 'No subject_token was sent', () => 'Send the IdP token as the `subject_token` parameter (form or JSON body).', { codes: ['ERR_REQUEST_MALFORMED'] }),
      cause('format.bearer-prefix', 'The token starts with `Bearer `', () =>
        'Send the bare JWT as `subject_token`, without the `Bearer ` prefix. Only `ARGO_TOKEN` (the credential argo-sts mints, given to Argo) carries `Bearer `.', { codes: ['ERR_TOKEN_FORMAT'] }),
      cause('format.jwe', 'The token is encrypted (JWE, five segments)', () =>
        'argo-sts verifies signed tokens only. Ask the IdP for a signed ID token or access token (Entra: do not configure token encryption for this app; Keycloak: turn off ID token encryption for the client).', { codes: ['ERR_TOKEN_FORMAT'] }),
      cause('format.segments', 'Not a JWT: wrong number of dot-separated segments', (f) =>
        `A JWT has three dot-separated segments${f.actual ? '; this token has ' + f.actual : ''}. Opaque tokens (GitHub's \`GITHUB_TOKEN\`, personal access tokens, OAuth access tokens of some IdPs) cannot be exchanged: use the OIDC ID token (GitHub Actions: \`permissions: id-token: write\` and \`core.getIDToken()\`; GitLab: \`id_tokens:\`).`, { codes: ['ERR_TOKEN_FORMAT'] }),
      cause('format.encoding', 'Not a JWT: a segment is not base64url, or the header or payload is not a JSON object', () =>
        'The token was damaged on the way: a shell quote, a line break, a truncated copy, or a URL encoding. Copy it again, whole, and send it form-encoded or in a JSON body.', { codes: ['ERR_TOKEN_FORMAT'] }),
      cause('format.unsigned', 'The header has `alg: none`, no `alg`, or critical extensions', () =>
        'Unsigned tokens and tokens with `crit` header parameters are never accepted. Use the token exactly as the IdP issued it.', { codes: ['ERR_TOKEN_FORMAT'] }),
      cause('format.too-large', 'The token is larger than 16 KiB', () =>
        'Real IdP tokens are a few KiB. An Entra token with hundreds of groups overflows: configure group claims as "groups assigned to the application" or use app roles.', { codes: ['ERR_REQUEST_TOO_LARGE'] }),
      cause('format.missing-sub', 'The token has no `sub` claim', () =>
        'Every subject token needs `sub`. Check the IdP client: Keycloak clients need the `basic` client scope (sub mapper) since Keycloak 25.', { codes: ['ERR_TOKEN_CLAIM_MISSING'] }),
      cause('format.replayed', 'The token was already exchanged', () =>
        'This token (its `jti`) has been presented before, and the issuer\'s preset allows each token once. Request a new token from the IdP for every exchange.', { codes: ['ERR_TOKEN_REPLAYED'] }),
      cause('format.unsuitable-type', 'The token is of a kind that is not a credential', () =>
        'An ID token where an access token for this API is expected (Entra: request a token for the API, `az account get-access-token --resource <api>`), or a Keycloak refresh or logout token. Present the access token.', { codes: ['ERR_TOKEN_TYPE_UNSUITABLE'] }),
      cause('format.preset-claim', 'A provider claim has a value the provider never sends', () =>
        'The idp preset checks the provider\'s own claims (GitHub `ref_protected`, GitLab `*_protected` as "true"/"false", ...). The message names the claim: the token is not what this provider issues, or the preset does not match the provider.', { codes: ['ERR_PRESET_CLAIM_INVALID'] }),
    ],
  },
  {
    id: 'issuer',
    title: 'Issuer',
    verifies: "The token's `iss` equals, exactly, the `issuer` of a configured idp: no trailing-slash or case folding, https only (http for loopback hosts).",
    causes: [
      cause('issuer.missing', 'The token has no `iss` claim', () => 'The IdP must set `iss`; check that this is an OIDC token and not an opaque one.', { codes: ['ERR_TOKEN_CLAIM_MISSING'] }),
      cause('issuer.trailing-slash', 'The issuer differs only by a trailing slash', (f) =>
        `The token says \`${or(f.actual, '<token iss>')}\`, the config says \`${or(f.expected, '<configured issuer>')}\`. Issuers match exactly: copy \`iss\` from a real token (or the \`issuer\` of the IdP's discovery document) into \`idps[].issuer\`.`, { codes: ['ERR_ISSUER_UNTRUSTED'], discloses: true }),
      cause('issuer.scheme', 'The issuer differs only by http vs https', (f) =>
        `The token says \`${or(f.actual, '<token iss>')}\`, the config says \`${or(f.expected, '<configured issuer>')}\`. An IdP behind a TLS-terminating proxy often builds its issuer from the inner scheme: set its public URL (Keycloak: \`KC_HOSTNAME=https://...\`; GitLab: \`external_url 'https://...'\`).`, { codes: ['ERR_ISSUER_UNTRUSTED'], discloses: true }),
      cause('issuer.case', 'The issuer differs only in letter case', (f) =>
        `The token says \`${or(f.actual, '<token iss>')}\`, the config says \`${or(f.expected, '<configured issuer>')}\`. Issuers are compared case-sensitively: copy the value from a real token.`, { codes: ['ERR_ISSUER_UNTRUSTED'], discloses: true }),
      cause('issuer.entra-version', 'Entra ID v1 issuer (`sts.windows.net`) vs v2 (`login.microsoftonline.com/{tid}/v2.0`)', (f) =>
        `The token is an Entra ${or(f.detail, 'v1')} token (\`${or(f.actual, '<token iss>')}\`) but the idp is configured for \`${or(f.expected, '<configured issuer>')}\`. The token version follows the API app's manifest, not the endpoint the client called: set \`accessTokenAcceptedVersion: 2\` (Entra admin center → App registrations → your API → Manifest; \`api.requestedAccessTokenVersion\` in Microsoft Graph) to get v2 tokens, or configure the issuer the tokens carry.`, { codes: ['ERR_ISSUER_UNTRUSTED'], discloses: true }),
      cause('issuer.entra-tenant', 'An Entra ID token from another tenant', (f) =>
        `The token's tenant differs from the configured one (\`${or(f.actual, '<token iss>')}\` vs \`${or(f.expected, '<configured issuer>')}\`). Sign in to the right tenant (\`az login --tenant <tid>\`), or add an idp for this tenant.`, { codes: ['ERR_ISSUER_UNTRUSTED'], discloses: true }),
      cause('issuer.entra-tid', "Entra token whose `tid` or `ver` disagrees with the configured tenant and issuer", () =>
        "Either the token comes from another tenant (sign in to the right one: `az login --tenant <tid>`), or a v1 token reached a v2 issuer configuration (or the reverse): the API app's `accessTokenAcceptedVersion` decides the version, so set it to 2 for v2 issuers.", { codes: ['ERR_TENANT_MISMATCH'] }),
      cause('issuer.keycloak-auth-path', 'Keycloak `/auth/realms/...` (before Keycloak 17) vs `/realms/...`', (f) =>
        `The token says \`${or(f.actual, '<token iss>')}\`, the config says \`${or(f.expected, '<configured issuer>')}\`. Keycloak 17+ (Quarkus) dropped the \`/auth\` prefix; a server started with \`--http-relative-path=/auth\` keeps it. Configure the issuer the tokens carry.`, { codes: ['ERR_ISSUER_UNTRUSTED'], discloses: true }),
      cause('issuer.keycloak-realm', 'A Keycloak token from another realm', (f) =>
        `The token comes from realm path \`${or(f.actual, '<token iss>')}\`, the config trusts \`${or(f.expected, '<configured issuer>')}\`. Log in to the configured realm, or add an idp for this realm.`, { codes: ['ERR_ISSUER_UNTRUSTED'], discloses: true }),
      cause('issuer.github-enterprise-slug', 'GitHub Actions issuer with or without an enterprise slug', (f) =>
        `The token says \`${or(f.actual, '<token iss>')}\`, the config says \`${or(f.expected, '<configured issuer>')}\`. An enterprise that sets \`include_enterprise_slug\` (PUT /enterprises/{enterprise}/actions/oidc/customization/issuer) gets the issuer \`https://token.actions.githubusercontent.com/<enterprise-slug>\`: configure that issuer, or turn the setting off.`, { codes: ['ERR_ISSUER_UNTRUSTED'], discloses: true }),
      cause('issuer.gitlab-host', 'A GitLab issuer on another host name or port', (f) =>
        `The token says \`${or(f.actual, '<token iss>')}\`, the config says \`${or(f.expected, '<configured issuer>')}\`. GitLab sets \`iss\` to its \`external_url\` (the \`CI_SERVER_URL\` of the job): configure exactly that URL, including its port, without a trailing slash.`, { codes: ['ERR_ISSUER_UNTRUSTED'], discloses: true }),
      cause('issuer.own-token', 'The token was minted by argo-sts itself', (f) =>
        `This is a credential argo-sts issued, not an IdP token${f.actual ? `: ${f.actual}` : ''}. It is what Argo and Kubernetes accept: ${ARGO_CLIENT_MODE} A 403 for another namespace or verb is RBAC doing its job: exchange again with the scope and namespace you need (\`argo-sts render\` shows what each group may do).`, { codes: ['ERR_ISSUER_UNTRUSTED'] }),
      cause('issuer.untrusted', 'The issuer is not configured at all', (f) =>
        `No idp has the issuer \`${or(f.actual, '<token iss>')}\`. Trusted issuers: ${or(f.expected, '<configured issuers>')}. Add an idp for it, or get a token from a configured IdP.`, { codes: ['ERR_ISSUER_UNTRUSTED'], discloses: true }),
    ],
  },
  {
    id: 'signature',
    title: 'Signature',
    verifies: "The signature verifies with a key from the issuer's JWKS (OIDC discovery or `jwks_uri`), with an asymmetric algorithm the idp accepts.",
    causes: [
      cause('signature.kid-unknown', "The token's `kid` is not in the issuer's key set", (f) =>
        `No published key has kid \`${or(f.actual, '<kid>')}\` (the issuer publishes: ${or(f.expected, '<key ids>')}). The key may have been rotated away (an old token), or the token comes from another tenant, realm or environment (staging vs production) with the same issuer URL.`, { codes: ['ERR_KEY_NOT_FOUND'] }),
      cause('signature.keys-unavailable', "The issuer's keys cannot be fetched", (f) =>
        `The broker could not fetch the issuer's discovery document or JWKS${f.detail ? ` (${f.detail})` : ''} and has no cached keys. Check that the broker can reach the IdP (egress, DNS, proxy, TLS), that the discovery document's \`issuer\` equals the configured issuer, and that \`jwks_uri\` is https.`, { codes: ['ERR_KEYS_UNAVAILABLE'] }),
      cause('signature.algorithm', 'The signature algorithm is not accepted', (f) =>
        `The token is signed with \`${or(f.actual, '<alg>')}\`; accepted: ${or(f.expected, '<algorithms>')}. Symmetric (HS*) and \`none\` are never accepted; add the algorithm to \`idps[].algorithms\` if the IdP really uses it.`, { codes: ['ERR_ALGORITHM_NOT_ALLOWED'], discloses: true }),
      cause('signature.invalid', 'The signature does not verify', () =>
        'The token was altered after signing, or signed by a different key that reuses a published kid (a test IdP with the same kid as production). Get a fresh token from the IdP and do not edit it.', { codes: ['ERR_SIGNATURE_INVALID'] }),
    ],
  },
  {
    id: 'audience',
    title: 'Audience',
    verifies: "The token's `aud` contains one of the idp's `audiences`.",
    causes: [
      cause('audience.keycloak-no-mapper', 'Keycloak token with `aud: account` or no `aud`', (f) =>
        `Keycloak puts a client in \`aud\` only through an Audience mapper; without one, \`aud\` is \`account\` or missing. In the client (or a client scope it uses) add a mapper of type "Audience" with Included Client Audience \`${or(f.expected, '<accepted audience>')}\` and "Add to access token" on.`, { codes: ['ERR_AUDIENCE_MISMATCH', 'ERR_TOKEN_CLAIM_MISSING'], discloses: true }),
      cause('audience.entra-uri-vs-guid', 'Entra ID `api://` App ID URI vs the client-id GUID', (f) =>
        `The token's aud is \`${or(f.actual, '<aud>')}\`, accepted: ${or(f.expected, '<accepted audiences>')}. Entra v1 tokens carry the App ID URI (\`api://...\`) when the client asked for it; v2 tokens always carry the API's client-id GUID. Accept the form your tokens carry, or set \`accessTokenAcceptedVersion: 2\` in the API app's manifest.`, { codes: ['ERR_AUDIENCE_MISMATCH'], discloses: true }),
      cause('audience.github-default', "GitHub Actions' default audience (the owner's URL)", (f) =>
        `The token's aud is \`${or(f.actual, 'https://github.com/<owner>')}\`, GitHub's default. Request the token for the broker's audience: \`core.getIDToken('${or(f.expected, '<accepted audience>')}')\`, or \`curl "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=${or(f.expected, '<accepted audience>')}" -H "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN"\`.`, { codes: ['ERR_AUDIENCE_MISMATCH'], discloses: true }),
      cause('audience.gitlab', 'GitLab id_token with another `aud`', (f) =>
        `GitLab sets \`aud\` from the job's \`id_tokens\`: \`id_tokens: { ARGO_STS_TOKEN: { aud: ${or(f.expected, '<accepted audience>')} } }\`.`, { codes: ['ERR_AUDIENCE_MISMATCH'], discloses: true }),
      cause('audience.mismatch', 'The audience is not accepted', (f) =>
        `The token's aud is \`${or(f.actual, '<aud>')}\`; accepted: ${or(f.expected, '<accepted audiences>')}. Ask the IdP for a token for one of them, or add the audience to \`idps[].audiences\` if this client is meant to use the broker.`, { codes: ['ERR_AUDIENCE_MISMATCH'], discloses: true }),
      cause('audience.missing', 'The token has no `aud`', () =>
        'Every subject token needs an `aud` naming the broker; configure the IdP client to add it.', { codes: ['ERR_TOKEN_CLAIM_MISSING'] }),
    ],
  },
  {
    id: 'expiry',
    title: 'Expiry (`exp`)',
    verifies: 'The token is used before `exp` plus the leeway (`defaults.clock_skew` or `idps[].clock_skew`, default 60 s).',
    causes: [
      cause('expiry.expired', 'The token has expired', (f) =>
        `Get a fresh token right before the exchange: CI tokens live minutes (GitHub Actions about 5 min, GitLab per \`id_tokens\`, Keycloak per realm "Access Token Lifespan"). If it expired only seconds ago (${or(f.seconds?.toString(), 'N')} s, leeway ${or(f.leeway?.toString(), 'L')} s), a clock may be behind: compare the server time ${or(f.serverTime, '<server time>')} with the IdP's.`, {
        codes: ['ERR_TOKEN_EXPIRED'],
        message: (f) => `the token expired ${f.seconds} s ago (exp ${f.at}; server time ${f.serverTime}; leeway ${f.leeway} s)`,
      }),
      cause('expiry.within-leeway', 'The token expired, but within the leeway', (f) =>
        `Accepted for now; it stops working ${f.seconds === undefined || f.leeway === undefined ? 'when the leeway runs out' : `${Math.max(0, f.leeway - f.seconds)} s from now`}. Request tokens closer to their use.`, {
        message: (f) => `the token expired ${f.seconds} s ago, within the leeway of ${f.leeway} s (exp ${f.at}; server time ${f.serverTime})`,
      }),
      cause('expiry.lifetime-too-long', 'The token lives longer than the issuer allows', () =>
        'Its `exp` is further away than `idps[].max_token_lifetime` (default 24 h): not a short-lived credential. Shorten the token lifetime at the IdP.', { codes: ['ERR_TOKEN_LIFETIME_TOO_LONG'] }),
      cause('expiry.missing', 'The token has no numeric `exp`', () => 'Every subject token needs `exp`; tokens that never expire are refused.', { codes: ['ERR_TOKEN_CLAIM_MISSING'] }),
    ],
  },
  {
    id: 'not_before',
    title: 'Not before (`nbf`)',
    verifies: 'The token is used no earlier than `nbf` minus the leeway. `nbf` is optional.',
    causes: [
      cause('not_before.future', 'The token is not valid yet', (f) =>
        `The IdP's clock is ahead of this host's, or this host's is behind, by about ${or(f.seconds?.toString(), 'N')} s (server time ${or(f.serverTime, '<server time>')}, leeway ${or(f.leeway?.toString(), 'L')} s). Check NTP on both sides; the leeway can be raised to at most 300 s with \`idps[].clock_skew\`.`, {
        codes: ['ERR_TOKEN_NOT_YET_VALID'],
        message: (f) => `the token is not valid for another ${f.seconds} s (nbf ${f.at} is ${f.seconds} s in the future; server time ${f.serverTime}; leeway ${f.leeway} s)`,
      }),
      cause('not_before.malformed', 'The `nbf` claim is not a number', () => 'The IdP must send `nbf` as seconds since the epoch.', { codes: ['ERR_TOKEN_FORMAT'] }),
    ],
  },
  {
    id: 'issued_at',
    title: 'Issued at (`iat`)',
    verifies: '`iat` is present and not later than now plus the leeway: a token issued in the future means a clock is wrong.',
    causes: [
      cause('issued_at.future', 'The token was issued in the future', (f) =>
        `Clock skew of ${or(f.seconds?.toString(), 'N')} s is over the leeway of ${or(f.leeway?.toString(), 'L')} s: the IdP's clock or this host's is ahead (server time ${or(f.serverTime, '<server time>')}). Fix NTP (\`timedatectl\`, \`chronyc tracking\`); the leeway can be raised to at most 300 s with \`idps[].clock_skew\`.`, {
        codes: ['ERR_TOKEN_ISSUED_IN_FUTURE'],
        message: (f) => `the token was issued ${f.seconds} s in the future: the IdP's clock or this host's is ahead (iat ${f.at}; server time ${f.serverTime}; leeway ${f.leeway} s)`,
      }),
      cause('issued_at.too-old', 'The token was issued too long ago', () =>
        'Its `iat` is older than `idps[].max_token_age` (default 24 h) even though it has not expired: request a fresh token for each exchange.', { codes: ['ERR_TOKEN_TOO_OLD'] }),
      cause('issued_at.missing', 'The token has no numeric `iat`', () => 'Every subject token needs `iat`.', { codes: ['ERR_TOKEN_CLAIM_MISSING'] }),
    ],
  },
  {
    id: 'policy',
    title: 'Policy',
    verifies: "A policy matches the token's identity: its `idp`, `subject` or `subject_pattern`, and every `claims` entry; with an `actor_token`, the answering policy's delegation allows the actor.",
    causes: [
      cause('policy.no-match', "No policy matches the token's identity", (f) =>
        `The nearest policy is \`${or(f.expected, '<policy id>')}\`; its failing clauses are listed under \`mismatches\`. A common cause: \`sub\` differs from what was expected (GitHub: \`repo:<owner>/<repo>:ref:refs/heads/<branch>\`, or \`:environment:<name>\` when the job has an environment, or \`:pull_request\`; GitLab: \`project_path:<group>/<project>:ref_type:branch:ref:<branch>\`).`, { codes: ['ERR_POLICY_NO_MATCH'], discloses: true }),
      cause('policy.delegation', 'The actor may not act for the subject', (f) =>
        `Policy \`${or(f.expected, '<policy id>')}\` has no \`delegation.actors\` entry matching the actor token's identity. Add the agent under \`delegation.actors\`, or exchange without \`actor_token\`.`, { codes: ['ERR_DELEGATION_DENIED'], discloses: true }),
      cause('policy.actor-token', 'The actor token itself is refused', () =>
        'The `actor_token` failed the check named in the message; it is verified exactly like a subject token.', {}),
      cause('policy.denied', 'A deny policy refuses the request', (f) =>
        `Deny policy \`${or(f.expected, '<policy id>')}\` matches this identity and request; deny policies win over every allow policy.`, { codes: ['ERR_POLICY_DENIED'], discloses: true }),
      cause('policy.claim-overage', 'A claim the policy binds is not in the token (Entra groups overage)', () =>
        'With more than 200 groups Entra leaves `groups` out of the token and points to Microsoft Graph. Emit only "groups assigned to the application" (Token configuration → groups claim), or bind app `roles` instead of groups.', { codes: ['ERR_CLAIM_OVERAGE'] }),
    ],
  },
  {
    id: 'target',
    title: 'Target',
    verifies: 'The `audience` parameter names a configured target, and a policy matching the identity allows it.',
    causes: [
      cause('target.omitted', 'No audience was given and several targets exist', () => 'Name the target with the `audience` parameter (`argo-sts exchange --audience NAME`).', { codes: ['ERR_REQUEST_MALFORMED'] }),
      cause('target.unknown', 'The audience names no target', (f) =>
        `\`${or(f.actual, '<audience>')}\` is not a target. Targets: ${or(f.expected, '<target names>')}. The \`audience\` parameter takes a target's name, not a cluster URL.`, { codes: ['ERR_TARGET_UNKNOWN'], discloses: true }),
      cause('target.not-allowed', 'No matching policy allows this target', (f) =>
        `The policies matching the token allow: ${or(f.expected, '<targets>')}.`, { codes: ['ERR_TARGET_NOT_ALLOWED'], discloses: true }),
      cause('target.entra-refused', 'Entra ID refused the on-behalf-of exchange', () =>
        'For `entra-obo` targets the subject token is the assertion Entra exchanges for an AKS token. The AADSTS code in the description says why: `AADSTS500133` the token expired at Entra (which has no leeway: get a fresh one), `AADSTS50013` its audience is not the broker\'s app, `AADSTS65001` nobody consented to the AKS permission (an admin grants it on the app registration, infra/entra/README.md), `AADSTS50076`/`AADSTS50079` conditional access wants MFA: sign in again interactively.', { codes: ['ERR_UPSTREAM_REFUSED'] }),
      cause('target.argo', 'Using the minted token with Argo', () => ARGO_CLIENT_MODE),
    ],
  },
  {
    id: 'namespace',
    title: 'Namespace',
    verifies: 'The requested `namespace` is one the policy allows; it may be omitted when the policy allows exactly one.',
    causes: [
      cause('namespace.not-allowed', 'The namespace is not allowed', (f) =>
        `Allowed for this identity and target: ${or(f.expected, '<namespaces>')}.`, { codes: ['ERR_NAMESPACE_NOT_ALLOWED'], discloses: true }),
      cause('namespace.omitted', 'No namespace was given and the policy allows several', (f) =>
        `Name one with the \`namespace\` parameter: ${or(f.expected, '<namespaces>')}.`, { codes: ['ERR_REQUEST_MALFORMED'], discloses: true }),
      cause('namespace.malformed', 'The namespace is not a Kubernetes namespace name', () => 'Namespaces are lowercase letters, digits and dashes, at most 63 characters.', { codes: ['ERR_REQUEST_MALFORMED'] }),
    ],
  },
  {
    id: 'scope',
    title: 'Scope and TTL',
    verifies: 'One policy allows every requested scope for the target and namespace (never a union of policies); `requested_ttl` is capped by the policy `max_ttl` and `defaults.max_ttl`.',
    causes: [
      cause('scope.not-allowed', 'A requested scope is not allowed', (f) =>
        `The nearest policy allows: ${or(f.expected, '<scopes>')}. Ask for those, or have the policy extended. Scopes are never combined across policies.`, { codes: ['ERR_SCOPE_NOT_ALLOWED'], discloses: true }),
      cause('scope.unknown', 'A requested scope does not exist', () =>
        'Built-in scopes: `argo:read`, `argo:submit`, `argo:manage`, `k8s:view`, `k8s:edit`; others are defined under `scopes:` in the config.', { codes: ['ERR_SCOPE_NOT_ALLOWED'] }),
      cause('scope.malformed', 'The scope parameter is malformed', () => 'Scopes are space-separated tokens of printable ASCII without `"` or `\\`, at most 32.', { codes: ['ERR_REQUEST_MALFORMED'] }),
      cause('scope.ttl-capped', 'The requested lifetime is capped', (f) =>
        `requested_ttl ${or(f.actual, '<requested>')} s is over the policy's limit; the token would live ${or(f.expected, '<max_ttl>')} s. A 403 from Argo after that long is an expired credential, not RBAC: exchange again.`, { discloses: true }),
    ],
  },
];

/**
 * The checks /token can answer with that are not about the token: /diagnose shows none of them as
 * a check (a malformed parameter is one of its `request_problems`), but each is a `check` value of
 * /token's error body and documented beside the eleven.
 */
export const WIRE_CHECK_CATALOGUE: readonly CheckEntry<Exclude<WireCheck, CheckId>>[] = [
  {
    id: 'request',
    title: 'Request',
    verifies: 'The request is one RFC 8693 token exchange: POST, form-encoded or JSON, at most 64 KiB, each parameter once, `grant_type` token-exchange, supported token types, `requested_ttl` a positive integer of seconds. A problem of the subject token itself is `format`, an omitted audience `target`, an omitted namespace `namespace`.',
    causes: [
      cause('request.malformed', 'A parameter is missing, repeated or not understood', () =>
        'The `error_description` names the parameter. `POST /diagnose` with the same body lists it under `request_problems`. Send the body form-encoded (`application/x-www-form-urlencoded`) or as a JSON object of strings, each parameter once; `requested_ttl` is seconds (`600`), not `10m`.', { codes: ['ERR_REQUEST_MALFORMED', 'ERR_GRANT_TYPE_UNSUPPORTED'] }),
      cause('request.too-large', 'The request body is larger than 64 KiB', () =>
        'A real exchange is a few KiB: the subject token (at most 16 KiB), an optional actor token and a few short parameters. Check what the client sends.', { codes: ['ERR_REQUEST_TOO_LARGE'] }),
    ],
  },
  {
    id: 'rate_limit',
    title: 'Rate limit',
    verifies: 'The verified subject, its idp and (when configured) the client address are within their `rate_limit` budgets.',
    causes: [
      cause('rate_limit.exceeded', 'Too many requests: 429', () =>
        'Wait the `Retry-After` seconds and try again. A pipeline that exchanges once per job stays far below the limits: cache the credential for its lifetime (`argo-sts exchange` and the kubectl plugin do) instead of exchanging per command. Operators size the budgets under `idps[].rate_limit` and `rate_limit.per_client_ip` (docs/policy.md).', { codes: ['ERR_RATE_LIMITED'] }),
    ],
  },
  {
    id: 'unavailable',
    title: 'Unavailable',
    verifies: 'What the broker depends on to issue answers: the durable audit sink, and the upstream issuer of a `kubernetes-tokenrequest` or Entra target.',
    causes: [
      cause('unavailable.audit', 'The audit sink cannot record the decision: 503', () =>
        'No token leaves the broker without its durable audit record. Retry after a few seconds; operators check `/readyz` and the audit sink (SQLite file, PostgreSQL, D1 binding) in the broker\'s stderr.', { codes: ['ERR_AUDIT_UNAVAILABLE'] }),
      cause('unavailable.upstream', "The target's issuer did not answer: 503", () =>
        "The cluster's TokenRequest API or Entra ID timed out, failed, or refused the broker's own credentials. Retry; operators find what to fix in the broker's stderr.", { codes: ['ERR_UPSTREAM_UNAVAILABLE'] }),
    ],
  },
  {
    id: 'internal',
    title: 'Internal error',
    verifies: 'Nothing: a 500 `server_error` is a defect of the broker, never a property of the request.',
    causes: [
      cause('internal.error', 'The broker failed: 500', () =>
        'The body carries only the `request_id`; the broker logged the detail on stderr under that id. Report it with the request id.', { codes: ['ERR_INTERNAL'] }),
    ],
  },
];

const BY_ID = new Map(CHECK_CATALOGUE.flatMap((entry) => entry.causes.map((c) => [c.id, c] as const)));

/** The cause a refusal code stands for when nothing more precise is known. */
const BY_CODE = new Map<ErrorCode, Cause>();
for (const entry of CHECK_CATALOGUE) for (const c of entry.causes) for (const code of c.codes) if (!BY_CODE.has(code)) BY_CODE.set(code, c);

export function causeForCode(code: ErrorCode | undefined): Cause | undefined {
  return code === undefined ? undefined : BY_CODE.get(code);
}

/** A cause by id; throws for an id the catalogue does not have (a programming error). */
export function causeById(id: string): Cause {
  const found = BY_ID.get(id);
  if (!found) throw new Error(`no cause ${id} in the check catalogue`);
  return found;
}

export function checkTitle(id: CheckId): string {
  return CHECK_CATALOGUE.find((entry) => entry.id === id)?.title ?? id;
}
