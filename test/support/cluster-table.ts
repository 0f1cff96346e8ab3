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
 *   mail      an ES256 issuer mapping `email` as the username.
 */
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
