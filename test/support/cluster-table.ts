/**
 * The issuers and JWT authenticators of issue #18's table, shared by the unit specification
 * (test/unit/diagnose-cluster.test.ts, frozen clock) and the stack proof against the real
 * kube-apiserver (test/stack/diagnose-cluster.test.ts): three https loopback issuers with
 * generated keys, shaped as
 *   keycloak  a Keycloak realm (`/realms/platform`): usernames from `sub`, a CEL claim rule capping
 *             `exp - iat` at an hour, groups, extra from CEL and a user validation rule;
 *   entra     Entra ID v2: `issuer.url` is https://login.microsoftonline.com/<tenant>/v2.0 and
 *             `issuer.discoveryURL` leads to loopback, whose document names that v2 URL (nothing
 *             ever contacts Microsoft);
 *   mail      an ES256 issuer mapping `email` as the username;
 * and the table's rows on them: one token each, the verdict kube-apiserver gives it and the check
 * (with its cause) that decides, for tests that run every row through the real apiserver or every
 * surface of the diagnosis. The rows sit well clear of the apiserver's time boundaries (nbf 20 s
 * and 150 s ahead of its 60 s leeway, exp 20 s past and 120 s ahead), so a few seconds between
 * signing and evaluating cannot flip one.
 */
import { expect } from 'vitest';
import { fixtureClaims } from './loopback-idp.ts';
import { type HttpsIssuer, indentPem, startHttpsIssuer } from './https-issuer.ts';

export const TENANT = '8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b';
export const ENTRA_V2 = `https://login.microsoftonline.com/${TENANT}/v2.0`;
export const ENTRA_API = '3c1d9e8f-7a6b-4c5d-8e9f-0a1b2c3d4e5f';

export interface TableIssuers {
  readonly keycloak: HttpsIssuer;
  readonly entra: HttpsIssuer;
  readonly mail: HttpsIssuer;
  close(): Promise<void>;
}

export async function startTableIssuers(): Promise<TableIssuers> {
  const [keycloak, entra, mail] = await Promise.all([
    startHttpsIssuer({ path: '/realms/platform' }),
    startHttpsIssuer({ issuer: () => ENTRA_V2, path: `/${TENANT}/v2.0` }),
    startHttpsIssuer({ alg: 'ES256' }),
  ]);
  return { keycloak, entra, mail, close: async () => void (await Promise.all([keycloak.close(), entra.close(), mail.close()])) };
}

/** The table's three authenticators as items of an AuthenticationConfiguration's `jwt:` list. */
export function tableAuthenticators({ keycloak, entra, mail }: TableIssuers): string {
  return `  - issuer:
      url: ${keycloak.issuer}
      audiences: [kubernetes, argo-sts]
      audienceMatchPolicy: MatchAny
      certificateAuthority: |
${indentPem(keycloak.caPem, 8)}
    claimValidationRules:
      - expression: "claims.exp - claims.iat <= 3600"
        message: tokens live at most an hour
    claimMappings:
      username: { claim: sub, prefix: "keycloak:" }
      groups: { claim: groups, prefix: "keycloak:" }
      extra:
        - key: acme.io/realm-roles
          valueExpression: "has(claims.realm_access) ? claims.realm_access.roles : []"
        - key: acme.io/client
          valueExpression: "claims.azp"
        - key: acme.io/empty
          valueExpression: "''"
    userValidationRules:
      - expression: "!user.username.startsWith('system:')"
        message: no system users
  - issuer:
      url: ${ENTRA_V2}
      discoveryURL: ${entra.discoveryUrl}
      audiences: ["${ENTRA_API}"]
      certificateAuthority: |
${indentPem(entra.caPem, 8)}
    claimMappings:
      username: { claim: oid, prefix: "entra:" }
      groups: { claim: groups, prefix: "entra:" }
      uid: { claim: oid }
  - issuer:
      url: ${mail.issuer}
      audiences: [kubernetes]
      certificateAuthority: |
${indentPem(mail.caPem, 8)}
    claimMappings:
      username: { claim: email, prefix: "" }
`;
}

export function tableConfig(version: 'v1' | 'v1beta1', issuers: TableIssuers): string {
  return `apiVersion: apiserver.config.k8s.io/${version}
kind: AuthenticationConfiguration
jwt:
${tableAuthenticators(issuers)}`;
}

export const keycloakClaims = (i: TableIssuers, now: number, overrides: Record<string, unknown> = {}): Record<string, unknown> =>
  fixtureClaims('keycloak-access-token', now, { iss: i.keycloak.issuer, aud: ['argo-sts', 'account'], ...overrides });

export const mailClaims = (i: TableIssuers, now: number, overrides: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ iss: i.mail.issuer, aud: 'kubernetes', sub: 'u1', email: 'bob@example.com', iat: now, exp: now + 300, ...overrides });

export interface TableRow {
  /** "(n) what the token is", n the row of issue #18's table. */
  readonly row: string;
  /** The token, signed for a clock at `now` (seconds). */
  readonly token: (i: TableIssuers, now: number) => Promise<string>;
  readonly verdict: 'authenticated' | 'refused';
  /** The check that decides: failing with its cause when refused, else its status; `says`: a part of its message. */
  readonly check?: { readonly id: string; readonly status: 'pass' | 'warn' | 'fail'; readonly cause?: string; readonly says?: (i: TableIssuers) => string };
  readonly username?: string;
}

const kc = (overrides: (now: number) => Record<string, unknown> = () => ({}), options?: Parameters<HttpsIssuer['sign']>[1]) =>
  (i: TableIssuers, now: number) => i.keycloak.sign(keycloakClaims(i, now, { jti: crypto.randomUUID(), ...overrides(now) }), options);

/** The rows on the table's issuers (the broker's own tokens are the stack suite's). */
export const TABLE_ROWS: readonly TableRow[] = [
  { row: '(1) a valid Keycloak-shaped token', token: kc(), verdict: 'authenticated', username: 'keycloak:f2b6c1d4-3e5a-4b7c-9d8e-0a1b2c3d4e5f' },
  { row: '(2) a Keycloak token without an audience mapper (aud "account")', token: kc(() => ({ aud: 'account' })), verdict: 'refused', check: { id: 'audience', status: 'fail', cause: 'cluster.audience.keycloak-no-mapper' } },
  {
    row: '(3) an Entra v2 token, its issuer reached through discoveryURL', token: (i, now) => i.entra.sign(fixtureClaims('entra-v2-access-token', now)),
    verdict: 'authenticated', username: 'entra:9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d', check: { id: 'discovery', status: 'pass', says: (i) => `discoveryURL ${i.entra.discoveryUrl}` },
  },
  {
    row: '(3) an Entra v1 token (sts.windows.net) signed by the same key', token: (i, now) => i.entra.sign(fixtureClaims('entra-v1-access-token', now, { aud: ENTRA_API })),
    verdict: 'refused', check: { id: 'issuer', status: 'fail', cause: 'cluster.issuer.entra-version', says: () => `https://sts.windows.net/${TENANT}/` },
  },
  { row: '(4) nbf 20 s ahead, within the 60 s leeway', token: kc((now) => ({ nbf: now + 20 })), verdict: 'authenticated', check: { id: 'not_before', status: 'pass' } },
  { row: '(4) nbf 150 s ahead', token: kc((now) => ({ nbf: now + 150 })), verdict: 'refused', check: { id: 'not_before', status: 'fail', cause: 'cluster.not_before.future' } },
  { row: '(4) iat 300 s ahead and no nbf (iat is not checked)', token: kc((now) => ({ iat: now + 300, exp: now + 600 })), verdict: 'authenticated', check: { id: 'not_before', status: 'warn' } },
  { row: '(4) exp 20 s past (no leeway on exp)', token: kc((now) => ({ iat: now - 300, exp: now - 20 })), verdict: 'refused', check: { id: 'expiry', status: 'fail', cause: 'cluster.expiry.expired' } },
  { row: '(4) exp 120 s ahead', token: kc((now) => ({ iat: now - 300, exp: now + 120 })), verdict: 'authenticated', check: { id: 'expiry', status: 'pass' } },
  {
    row: '(5) a two-hour token against the CEL rule capping exp - iat', token: kc((now) => ({ exp: now + 7200 })),
    verdict: 'refused', check: { id: 'claim_validation', status: 'fail', cause: 'cluster.claim_validation.rule-false', says: () => 'claims.exp - claims.iat <= 3600' },
  },
  {
    row: '(6) no username claim (sub)', verdict: 'refused', check: { id: 'claim_mapping', status: 'fail', cause: 'cluster.claim_mapping.username-missing' },
    token: (i, now) => {
      const { sub: _, ...claims } = keycloakClaims(i, now, { jti: crypto.randomUUID() });
      return i.keycloak.sign(claims);
    },
  },
  { row: '(7) an email username with email_verified false', token: (i, now) => i.mail.sign(mailClaims(i, now, { email_verified: false })), verdict: 'refused', check: { id: 'claim_mapping', status: 'fail', cause: 'cluster.claim_mapping.email-unverified' } },
  { row: '(7) an email username with email_verified true', token: (i, now) => i.mail.sign(mailClaims(i, now, { email_verified: true })), verdict: 'authenticated', username: 'bob@example.com' },
  { row: '(7) an email username without email_verified', token: (i, now) => i.mail.sign(mailClaims(i, now)), verdict: 'authenticated', username: 'bob@example.com' },
  { row: '(8) a key the JWKS does not publish (unknown kid)', token: kc(undefined, { kid: 'rotated-away', foreignKey: true }), verdict: 'refused', check: { id: 'signature', status: 'fail', cause: 'cluster.signature.kid-unknown' } },
  { row: '(8) another key reusing the published kid', token: kc(undefined, { foreignKey: true }), verdict: 'refused', check: { id: 'signature', status: 'fail', cause: 'cluster.signature.invalid' } },
  // (+) Beyond the eight: claims of other JSON types, as Go decodes them into go-oidc's
  // idToken and the authenticator's strings (probed on kube-apiserver 1.37, where the diagnosis
  // first read them as JSON and disagreed on every one of these).
  ...shapeRows(),
];

function shapeRows(): TableRow[] {
  const mail = (overrides: (now: number) => Record<string, unknown>) => (i: TableIssuers, now: number) => i.mail.sign(mailClaims(i, now, overrides(now)));
  const entra = (overrides: Record<string, unknown>) => (i: TableIssuers, now: number) => i.entra.sign(fixtureClaims('entra-v2-access-token', now, overrides));
  const payload = { id: 'signature', status: 'fail', cause: 'cluster.signature.payload' } as const;
  return [
    { row: '(+) exp a string holding a number', token: mail((now) => ({ exp: String(now + 300) })), verdict: 'authenticated', check: { id: 'expiry', status: 'pass' } },
    { row: '(+) exp a string holding no number', token: mail(() => ({ exp: 'tomorrow' })), verdict: 'refused', check: { id: 'expiry', status: 'fail', cause: 'cluster.expiry.malformed' } },
    { row: '(+) iat a string holding no number (iat is decoded, not checked)', token: mail(() => ({ iat: 'yesterday' })), verdict: 'refused', check: { id: 'not_before', status: 'fail', cause: 'cluster.not_before.malformed' } },
    { row: '(+) iat null', token: mail(() => ({ iat: null })), verdict: 'refused', check: { id: 'not_before', status: 'fail', cause: 'cluster.not_before.malformed' } },
    { row: '(+) nbf null (no nbf)', token: mail(() => ({ nbf: null })), verdict: 'authenticated', check: { id: 'not_before', status: 'pass' } },
    { row: '(+) aud a list holding a number', token: mail(() => ({ aud: ['kubernetes', 5] })), verdict: 'refused', check: { id: 'audience', status: 'fail', cause: 'cluster.audience.malformed' } },
    { row: '(+) sub a number, though the username is oid', token: entra({ sub: 42 }), verdict: 'refused', check: { ...payload, says: () => 'sub is a number' } },
    { row: '(+) nonce a number', token: mail(() => ({ nonce: 7 })), verdict: 'refused', check: payload },
    { row: '(+) _claim_names naming a source _claim_sources lacks', token: mail(() => ({ _claim_names: { groups: 'src1' } })), verdict: 'refused', check: payload },
    { row: '(+) groups null (no groups)', token: entra({ groups: null }), verdict: 'authenticated', username: 'entra:9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d' },
    { row: '(+) a null item in groups (the bare prefix)', token: entra({ groups: ['c5e1f0a2-3b4c-4d5e-8f9a-0b1c2d3e4f5a', null] }), verdict: 'authenticated' },
    { row: '(+) the username claim (oid) null: the bare prefix', token: entra({ oid: null }), verdict: 'authenticated', username: 'entra:', check: { id: 'claim_mapping', status: 'warn' } },
    { row: '(+) the username claim (email, no prefix) null: the empty username', token: mail(() => ({ email: null })), verdict: 'authenticated', username: '', check: { id: 'claim_mapping', status: 'warn' } },
  ];
}

/** A diagnosis as `argo-sts diagnose --cluster --json` prints it, as far as a row speaks of it. */
export interface RowDiagnosis {
  readonly verdict: string;
  readonly user: { readonly username: string } | null;
  readonly checks: readonly { readonly check: string; readonly status: string; readonly cause?: string; readonly message: string }[];
}

/** The diagnosis says what the row says: the verdict, the deciding check's status, cause and message, the username. */
export function expectRow(r: TableRow, d: RowDiagnosis, i: TableIssuers): void {
  expect(d.verdict).toBe(r.verdict);
  if (r.username !== undefined) expect(d.user?.username).toBe(r.username);
  if (!r.check) return;
  const found = d.checks.find((c) => c.check === r.check!.id);
  expect(found).toMatchObject({ status: r.check.status, ...(r.check.cause && { cause: r.check.cause }) });
  if (r.check.says) expect(found?.message).toContain(r.check.says(i));
}
