/**
 * The causes of a cluster-side refusal: why kube-apiserver's JWT authenticators (or RBAC, with
 * --kubeconfig) refuse a token that argo-sts, Entra or Keycloak issued. The same shape as the
 * broker's catalogue (shared/diagnose/catalogue.ts) and the same near-miss detection (shared/diagnose/near-miss.ts) for issuers and
 * audiences (Entra v1 vs v2, api:// vs GUID, Keycloak's /auth prefix and audience mapper, trailing
 * slashes), worded for an AuthenticationConfiguration instead of the broker's config. It feeds
 * `argo-sts diagnose --cluster`, the MCP tool, the diagnose page and docs/troubleshooting.md.
 */
import { type Cause, causeById, type HintFacts } from '../diagnose/catalogue.ts';

export type ClusterCheckId =
  | 'config' | 'issuer' | 'discovery' | 'signature' | 'audience' | 'expiry' | 'not_before'
  | 'claim_validation' | 'claim_mapping' | 'user_validation' | 'authorization';

export interface ClusterCheckEntry {
  readonly id: ClusterCheckId;
  readonly title: string;
  readonly verifies: string;
  readonly causes: readonly Cause[];
}

const or = (value: string | undefined, placeholder: string) => value ?? placeholder;

function cause(id: string, title: string, hint: Cause['hint']): Cause {
  return { id, title, hint, codes: [], discloses: false };
}

/** A broker cause (issuer and audience near misses) re-worded for `jwt[].issuer`. */
function from(brokerId: string, hint: Cause['hint']): Cause {
  return cause(`cluster.${brokerId}`, causeById(brokerId).title, hint);
}

const CONFIG_FIELD = 'jwt[].issuer.url';

export const CLUSTER_CATALOGUE: readonly ClusterCheckEntry[] = [
  {
    id: 'config',
    title: 'AuthenticationConfiguration',
    verifies: 'The file is one kube-apiserver accepts: strict decoding (no unknown fields) and every validation rule of `--authentication-config` (or of the `--oidc-*` flags).',
    causes: [
      cause('cluster.config.invalid', 'kube-apiserver would refuse this configuration', (f) =>
        `kube-apiserver validates the file at start-up and on every reload: with ${or(f.detail, 'these problems')} it does not start, or keeps serving the previous configuration. Fix each path listed; \`argo-sts render\` writes a valid one for argo-sts tokens.`),
    ],
  },
  {
    id: 'issuer',
    title: 'Issuer',
    verifies: "A JWT authenticator's `issuer.url` equals the token's `iss`, exactly (no trailing-slash or case folding). A token no authenticator claims is ignored by all of them: the apiserver answers a bare 401.",
    causes: [
      cause('cluster.issuer.not-a-jwt', 'The token is not a compact JWT', () =>
        'JWT authenticators read only signed compact JWTs (three base64url segments). Opaque access tokens and encrypted (JWE) tokens never reach them; ask the IdP for a JWT.'),
      cause('cluster.issuer.no-authenticator', 'No JWT authenticator has the token\'s issuer', (f) =>
        `The token says \`${or(f.actual, '<token iss>')}\`; the authenticators trust ${or(f.expected, '<issuer urls>')}. Add a \`jwt\` entry with \`issuer.url\` set to exactly the token's \`iss\` (a cluster may have up to 64), or present a token from a configured issuer.`),
      from('issuer.trailing-slash', (f) =>
        `The token says \`${or(f.actual, '<token iss>')}\`, the cluster says \`${or(f.expected, '<issuer url>')}\`. Set \`${CONFIG_FIELD}\` to the token's \`iss\` character for character (Entra v1 issuers end with \`/\`, v2 issuers do not).`),
      from('issuer.scheme', (f) =>
        `The token says \`${or(f.actual, '<token iss>')}\`, the cluster says \`${or(f.expected, '<issuer url>')}\`. The apiserver requires https issuers; an IdP behind a TLS-terminating proxy must be told its public https URL (Keycloak: \`KC_HOSTNAME=https://...\`).`),
      from('issuer.case', (f) =>
        `The token says \`${or(f.actual, '<token iss>')}\`, the cluster says \`${or(f.expected, '<issuer url>')}\`. Issuers are compared case-sensitively: copy \`iss\` from a real token into \`${CONFIG_FIELD}\`.`),
      from('issuer.entra-version', (f) =>
        `The token is an Entra ${or(f.detail, 'v1')} token (\`${or(f.actual, '<token iss>')}\`), the cluster expects \`${or(f.expected, '<issuer url>')}\`. The version follows the API app's manifest, not the endpoint the client called: set \`accessTokenAcceptedVersion: 2\` (App registrations → your API → Manifest) to get v2 tokens, or set \`${CONFIG_FIELD}\` to \`https://sts.windows.net/<tenant>/\` (with the slash) for v1 tokens.`),
      from('issuer.entra-tenant', (f) =>
        `The token's tenant differs from the cluster's (\`${or(f.actual, '<token iss>')}\` vs \`${or(f.expected, '<issuer url>')}\`). Sign in to the right tenant (\`az login --tenant <tid>\`), or add a \`jwt\` authenticator for this tenant.`),
      from('issuer.keycloak-auth-path', (f) =>
        `The token says \`${or(f.actual, '<token iss>')}\`, the cluster says \`${or(f.expected, '<issuer url>')}\`. Keycloak 17+ dropped the \`/auth\` prefix unless started with \`--http-relative-path=/auth\`: set \`${CONFIG_FIELD}\` to the issuer the tokens carry.`),
      from('issuer.keycloak-realm', (f) =>
        `The token comes from realm path \`${or(f.actual, '<token iss>')}\`, the cluster trusts \`${or(f.expected, '<issuer url>')}\`. Log in to the configured realm, or add an authenticator for this realm.`),
      from('issuer.github-enterprise-slug', (f) =>
        `The token says \`${or(f.actual, '<token iss>')}\`, the cluster says \`${or(f.expected, '<issuer url>')}\`: GitHub's \`include_enterprise_slug\` setting changes the issuer. Configure the issuer the tokens carry.`),
      from('issuer.gitlab-host', (f) =>
        `The token says \`${or(f.actual, '<token iss>')}\`, the cluster says \`${or(f.expected, '<issuer url>')}\`. GitLab's issuer is its \`external_url\`, port included, without a trailing slash.`),
    ],
  },
  {
    id: 'discovery',
    title: 'Discovery and keys',
    verifies: "The apiserver fetches `issuer.discoveryURL` (default: `issuer.url` + `/.well-known/openid-configuration`) trusting `issuer.certificateAuthority` (else the host's roots); the document's `issuer` must equal `issuer.url`, and its `jwks_uri` must serve the keys.",
    causes: [
      cause('cluster.discovery.unreachable', 'The discovery document cannot be fetched', (f) =>
        `${or(f.detail, 'The fetch failed')}. The apiserver retries every 10 s and refuses every token of this issuer until it succeeds. Check DNS and egress from the control plane, and for a private CA put the PEM in \`issuer.certificateAuthority\`.`),
      cause('cluster.discovery.issuer-mismatch', "The discovery document names another issuer", (f) =>
        `The document says \`${or(f.actual, '<document issuer>')}\`, \`issuer.url\` is \`${or(f.expected, '<issuer url>')}\`. They must be equal even with a \`discoveryURL\` (that only changes where the document is fetched). A Keycloak without \`KC_HOSTNAME\` names the host it was reached by: set its public URL.`),
      cause('cluster.discovery.jwks', "The issuer's key set cannot be fetched or read", (f) =>
        `${or(f.detail, 'The JWKS fetch failed')}. The \`jwks_uri\` of the discovery document must be reachable from the control plane, with the same CA.`),
    ],
  },
  {
    id: 'signature',
    title: 'Signature',
    verifies: 'The token is signed with an allowed algorithm (every RS, PS and ES algorithm with an AuthenticationConfiguration; only `--oidc-signing-algs`, default RS256, with the legacy flags) by a key of the issuer\'s JWKS (the one with its `kid`, or any key when it has none).',
    causes: [
      cause('cluster.signature.algorithm', 'The signing algorithm is not allowed', (f) =>
        `The token is signed with \`${or(f.actual, '<alg>')}\`; allowed: ${or(f.expected, '<algorithms>')}. With the legacy flags add it to \`--oidc-signing-algs\` (argo-sts signs ES256 by default), or move to an AuthenticationConfiguration, which allows all asymmetric algorithms.`),
      cause('cluster.signature.kid-unknown', "The token's key is not in the issuer's JWKS", (f) =>
        `No key has kid \`${or(f.actual, '<kid>')}\` (published: ${or(f.expected, '<key ids>')}). The key was rotated away (an old token), or the token comes from another environment sharing the issuer URL; the apiserver refetches the keys once and then refuses.`),
      cause('cluster.signature.invalid', 'The signature does not verify', () =>
        'The token was altered, or signed by another key reusing a published kid. Use the token exactly as issued.'),
      cause('cluster.signature.payload', "The apiserver's OIDC library cannot decode the claims", (f) =>
        `${or(f.detail, 'A registered claim has the wrong JSON type')}. go-oidc decodes the payload into typed fields before any other check: \`sub\`, \`nonce\` and \`at_hash\` must be strings, and every \`_claim_names\` entry must name a \`_claim_sources\` entry. Fix the IdP's claim mapper that writes the claim.`),
    ],
  },
  {
    id: 'audience',
    title: 'Audience',
    verifies: "The token's `aud` contains at least one of `issuer.audiences` (`audienceMatchPolicy: MatchAny`, required when there are several).",
    causes: [
      cause('cluster.audience.mismatch', 'The audience is not one the cluster accepts', (f) =>
        `The token's aud is \`${or(f.actual, '<aud>')}\`; \`issuer.audiences\` is ${or(f.expected, '<audiences>')}. Request the token for one of them, or add its audience (with \`audienceMatchPolicy: MatchAny\` for several).`),
      from('audience.entra-uri-vs-guid', (f) =>
        `The token's aud is \`${or(f.actual, '<aud>')}\`, the cluster accepts ${or(f.expected, '<audiences>')}. Entra v1 tokens carry the App ID URI (\`api://...\`) when asked for it, v2 tokens always the client-id GUID: list the form your tokens carry in \`issuer.audiences\`.`),
      cause('cluster.audience.malformed', 'The `aud` claim is neither a string nor a list of strings', (f) =>
        `The token's aud is ${or(f.actual, 'of another type')}; the apiserver's OIDC library cannot decode it and refuses the token whatever \`issuer.audiences\` says. Fix the IdP's audience mapper.`),
      from('audience.keycloak-no-mapper', (f) =>
        `Keycloak puts a client in \`aud\` only through an Audience mapper (else \`aud\` is \`account\` or missing). Add a mapper of type "Audience" with Included Client Audience ${or(f.expected, '<audience>')} to the client, "Add to access token" on.`),
    ],
  },
  {
    id: 'expiry',
    title: 'Expiry (`exp`)',
    verifies: 'The token has `exp` (a number, or a string holding one, as Go decodes it; fractions dropped) and it is not in the past. kube-apiserver allows no leeway on `exp`.',
    causes: [
      cause('cluster.expiry.expired', 'The token has expired', (f) =>
        `It expired ${or(f.seconds?.toString(), 'N')} s ago, and the apiserver allows no leeway on \`exp\` (argo-sts's own checks allow ${or(f.leeway?.toString(), 'L')} s, so a token can pass argo-sts and still be refused here). Get a fresh token; if it expired seconds ago, compare the clocks of the control plane and the IdP (NTP).`),
      cause('cluster.expiry.missing', 'The token has no `exp`', () => 'The apiserver treats a token without `exp` as expired.'),
      cause('cluster.expiry.malformed', 'The `exp` claim is not a number', (f) =>
        `\`exp\` is ${or(f.actual, 'of another type')}: the apiserver's OIDC library decodes it as a number (or a string holding one) and refuses the token when it cannot. Seconds since the epoch, as a JSON number.`),
    ],
  },
  {
    id: 'not_before',
    title: 'Not before (`nbf`)',
    verifies: 'When the token has `nbf` (not null), it is at most 60 s in the future (the apiserver\'s fixed leeway). `iat` is not checked by the apiserver, but, like `nbf`, it must decode as a number (or a string holding one) when present.',
    causes: [
      cause('cluster.not_before.future', 'The token is not valid yet', (f) =>
        `Its \`nbf\` is ${or(f.seconds?.toString(), 'N')} s in the future, over the apiserver's fixed leeway of 60 s: the IdP's clock is ahead of the control plane's, or the control plane's is behind. Fix NTP on both; the leeway cannot be configured.`),
      cause('cluster.not_before.malformed', 'The `nbf` or `iat` claim is not a number', (f) =>
        `${or(f.actual, 'nbf or iat is of another type')}: the apiserver's OIDC library decodes both as numbers (or strings holding one; a null \`nbf\` is no nbf, a null \`iat\` fails) and refuses the token when it cannot, though it never compares \`iat\` with the clock.`),
    ],
  },
  {
    id: 'claim_validation',
    title: 'Claim validation rules',
    verifies: 'Every `claimValidationRules` entry holds: `claim` + `requiredValue` (the claim is a string equal to the value), or a CEL `expression` over `claims` that evaluates to true.',
    causes: [
      cause('cluster.claim_validation.required-claim', 'A required claim is missing or has another value', (f) =>
        `The rule wants \`${or(f.expected, '<claim>=<value>')}\`, the token has ${or(f.actual, 'no such claim')}. Only string claims can satisfy \`requiredValue\`; for booleans, numbers or lists write an \`expression\` instead.`),
      cause('cluster.claim_validation.rule-false', 'A CEL claim validation rule is false', (f) =>
        `\`${or(f.expected, '<expression>')}\` is false for this token${f.detail ? ` (${f.detail})` : ''}. Compare the claims it reads with the token's; a rule over \`exp - iat\` caps the token's lifetime (\`argo-sts render\` writes one from \`defaults.max_ttl\`).`),
      cause('cluster.claim_validation.error', 'A CEL rule fails to evaluate', (f) =>
        `\`${or(f.expected, '<expression>')}\`: ${or(f.detail, 'evaluation error')}. A claim the token lacks is an error, not false, and the apiserver refuses the token: guard optional claims with \`has(claims.x)\` or \`claims.?x.orValue(...)\`.`),
      cause('cluster.cel.unsupported', 'argo-sts cannot evaluate this expression', (f) =>
        `\`${or(f.expected, '<expression>')}\` uses ${or(f.detail, 'a function')} that argo-sts's CEL does not provide (a Kubernetes CEL library such as url(), ip() or sets). The apiserver may accept it; the verdict cannot say. Check this rule with \`kubectl auth whoami\` against the cluster.`),
    ],
  },
  {
    id: 'claim_mapping',
    title: 'Claim mappings',
    verifies: '`claimMappings` give the user: `username` (required; a string claim plus `prefix`, or an expression returning a string), `groups` (a string or list claim plus `prefix`, or an expression), `uid`, `extra`.',
    causes: [
      cause('cluster.claim_mapping.username-missing', 'The username claim is not in the token', (f) =>
        `\`claimMappings.username.claim\` is \`${or(f.expected, '<claim>')}\`, which the token does not have (as a string). Map a claim every token carries (\`sub\`), or add it at the IdP (Keycloak: a protocol mapper; Entra: optional claims, \`preferred_username\` or \`upn\` in v1).`),
      cause('cluster.claim_mapping.email-unverified', 'The username claim is `email` and `email_verified` is not true', () =>
        'With `claim: email` the apiserver refuses a token whose `email_verified` is present and not `true`. Verify the address at the IdP, or map another claim; an expression such as `claims.email_verified ? claims.email : ""` states the rule explicitly.'),
      cause('cluster.claim_mapping.not-string', 'A mapped claim has the wrong type', (f) =>
        `${or(f.detail, 'The claim')}: usernames and uids must be strings, groups a string or a list of strings.`),
      cause('cluster.claim_mapping.expression-error', 'A mapping expression fails or returns the wrong type', (f) =>
        `\`${or(f.expected, '<expression>')}\`: ${or(f.detail, 'evaluation error')}. Username and uid expressions must return a string, groups and extra a string or a list of strings; guard optional claims with \`has()\`.`),
    ],
  },
  {
    id: 'user_validation',
    title: 'User validation rules',
    verifies: 'Every `userValidationRules` expression over the mapped `user` (username, uid, groups, extra) is true.',
    causes: [
      cause('cluster.user_validation.rule-false', 'A user validation rule is false', (f) =>
        `\`${or(f.expected, '<expression>')}\` is false for the mapped user${f.detail ? ` (${f.detail})` : ''}. A common one, \`!user.username.startsWith('system:')\`, refuses usernames mapped without a prefix: set \`claimMappings.username.prefix\`.`),
    ],
  },
  {
    id: 'authorization',
    title: 'Authorization (RBAC)',
    verifies: 'With `--kubeconfig`: SubjectAccessReviews ask the cluster what the mapped user may do for each `argo:*` scope and for the `--verb`/`--resource` given. Authenticated but forbidden is a 403, not a 401.',
    causes: [
      cause('cluster.authorization.forbidden', 'Authenticated, but RBAC forbids the operation', (f) =>
        `The cluster knows the user and says no: ${or(f.detail, '<operation>')}. Bind the user's groups to a Role that allows it; for argo-sts tokens \`argo-sts render\` writes the RoleBindings of every \`argo-sts:<namespace>:<scope>\` group.`),
      cause('cluster.authorization.unavailable', 'The cluster could not be asked', (f) =>
        `${or(f.detail, 'The SubjectAccessReview failed')}. The kubeconfig's identity needs \`create\` on \`subjectaccessreviews.authorization.k8s.io\` (cluster-admin has it).`),
    ],
  },
];

const BY_ID = new Map(CLUSTER_CATALOGUE.flatMap((entry) => entry.causes.map((c) => [c.id, c] as const)));

export function clusterCause(id: string): Cause {
  const found = BY_ID.get(id);
  if (!found) throw new Error(`no cause ${id} in the cluster catalogue`);
  return found;
}

export function clusterCheckTitle(id: ClusterCheckId): string {
  return CLUSTER_CATALOGUE.find((entry) => entry.id === id)?.title ?? id;
}

/** The hint of a cause with facts, backticks kept (renderers decide how to show code). */
export function clusterHint(id: string, facts: HintFacts = {}): string {
  return clusterCause(id).hint(facts);
}

/** The cluster section of docs/troubleshooting.md, with `transcript` (the one README and --help show) as its example. */
export function renderClusterTroubleshootingSection(transcript: string): string {
  const out: string[] = [
    '# Why does the cluster refuse my token?',
    '',
    '<!-- Generated from shared/cluster/cluster-catalogue.ts by `npm run docs:troubleshooting`. Do not edit by hand. -->',
    '',
    'kube-apiserver answers a refused token with a bare 401, and on managed clusters nobody can read its log.',
    '`argo-sts diagnose --cluster AUTHN_CONFIG [TOKEN|-] [--kubeconfig FILE] [--json]` evaluates the token the',
    "way the apiserver's JWT authenticators do, for an AuthenticationConfiguration (v1 or v1beta1) or a file of",
    '`--oidc-*` flags, and prints each check below, the user the apiserver would see (username, groups, uid,',
    'extra) and the hint listed here. Exit 0 when the apiserver would authenticate the token, 1 when not, 2 on',
    'usage errors. The diagnose page (`GET /diagnose`) and the MCP tool `diagnose_cluster_token` say the same.',
    '',
    'For example, an Entra ID v1 token against a cluster that trusts the v2 issuer:',
    '',
    '```text',
    transcript,
    '```',
    '',
    '| check | verifies |',
    '|---|---|',
    ...CLUSTER_CATALOGUE.map((entry) => `| [\`${entry.id}\`](#cluster-${entry.id.replace(/_/g, '-')}) | ${entry.verifies} |`),
    '',
  ];
  for (const entry of CLUSTER_CATALOGUE) {
    out.push(`## cluster: ${entry.id}`, '', `<a id="cluster-${entry.id.replace(/_/g, '-')}"></a>**${entry.title}.** ${entry.verifies}`, '');
    for (const c of entry.causes) out.push(`### ${c.id}`, '', `*${c.title}.*`, '', c.hint({}), '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}
