/**
 * `diagnoseClusterToken` as a specification of kube-apiserver's JWT authenticators, against
 * https loopback issuers with generated keys and a frozen clock: the table of the issue (valid,
 * wrong audience, Entra v1 against a v2 URL, skewed times, a failing claim rule, no username
 * claim, unverified email as username, a key not in the JWKS) for v1 and v1beta1 configs, with
 * the verdict, the failing check and the mapped user.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchTrustingCa } from '../../functions/node/ca-fetch.ts';
import { parseAuthenticationConfig } from '../../shared/cluster/authentication-config.ts';
import { diagnoseClusterToken } from '../../shared/cluster/diagnose-cluster.ts';
import { type ClusterDiagnosis } from '../../shared/cluster/cluster-diagnosis.ts';
import { fixtureClaims } from '../support/loopback-idp.ts';
import { ENTRA_API, expectRow, keycloakClaims, mailClaims, startTableIssuers, TABLE_ROWS, tableConfig, type TableIssuers, TENANT } from '../support/cluster-table.ts';
import { type HttpsIssuer, indentPem } from '../support/https-issuer.ts';

const NOW = 1_790_000_000;

let issuers: TableIssuers;
let keycloak: HttpsIssuer;
let entra: HttpsIssuer;
let mail: HttpsIssuer;

beforeAll(async () => {
  issuers = await startTableIssuers();
  ({ keycloak, entra, mail } = issuers);
});

afterAll(() => issuers.close());

const clusterConfig = (version: 'v1' | 'v1beta1') => tableConfig(version, issuers);

function diagnose(token: string, text: string, now = NOW): Promise<ClusterDiagnosis> {
  return diagnoseClusterToken({ token, config: parseAuthenticationConfig(text), now: now * 1000, fetchFor: (ca) => (ca ? fetchTrustingCa(ca) : fetch) });
}

function check(d: ClusterDiagnosis, id: string) {
  const found = d.checks.find((c) => c.check === id);
  if (!found) throw new Error(`no check ${id}`);
  return found;
}

const kcClaims = (overrides: Record<string, unknown> = {}) => keycloakClaims(issuers, NOW, overrides);

for (const version of ['v1', 'v1beta1'] as const) {
  describe(`an AuthenticationConfiguration ${version}`, () => {
    it('authenticates a valid Keycloak token and maps the user with prefixes, groups and extra', async () => {
      const d = await diagnose(await keycloak.sign(kcClaims()), clusterConfig(version));
      expect(d.verdict).toBe('authenticated');
      expect(d.authenticator).toBe(keycloak.issuer);
      expect(d.config.problems).toEqual([]);
      expect(d.checks.map((c) => [c.check, c.status])).toEqual([
        ['issuer', 'pass'], ['discovery', 'pass'], ['signature', 'pass'], ['audience', 'pass'], ['expiry', 'pass'],
        ['not_before', 'pass'], ['claim_validation', 'pass'], ['claim_mapping', 'pass'], ['user_validation', 'pass'],
      ]);
      expect(d.user).toEqual({
        username: 'keycloak:f2b6c1d4-3e5a-4b7c-9d8e-0a1b2c3d4e5f',
        groups: ['keycloak:platform-engineers', 'keycloak:argo-users', 'system:authenticated'],
        uid: '',
        extra: { 'acme.io/realm-roles': ['offline_access', 'default-roles-platform', 'argo-submitter'], 'acme.io/client': ['argo-cli'] },
      });
    });

    it('records a string jti as the credential id in extra, as the apiserver does', async () => {
      const d = await diagnose(await keycloak.sign(kcClaims({ jti: 'a1b2c3' })), clusterConfig(version));
      expect(d.user?.extra['authentication.kubernetes.io/credential-id']).toEqual(['JTI=a1b2c3']);
    });

    it('refuses a Keycloak token whose aud is only "account" and names the audience mapper', async () => {
      const d = await diagnose(await keycloak.sign(kcClaims({ aud: 'account' })), clusterConfig(version));
      expect(d.verdict).toBe('refused');
      expect(d.user).toBeNull();
      const audience = check(d, 'audience');
      expect(audience).toMatchObject({ status: 'fail', cause: 'cluster.audience.keycloak-no-mapper', actual: ['account'], expected: ['kubernetes', 'argo-sts'] });
      expect(audience.hint).toMatch(/Audience mapper/);
      expect(d.mapped_user?.username).toBe('keycloak:f2b6c1d4-3e5a-4b7c-9d8e-0a1b2c3d4e5f');
    });

    it('ignores an Entra v1 token (sts.windows.net) when the cluster trusts the v2 issuer, and says why', async () => {
      const claims = fixtureClaims('entra-v1-access-token', NOW, { aud: ENTRA_API });
      const d = await diagnose(await entra.sign(claims), clusterConfig(version));
      expect(d.verdict).toBe('refused');
      expect(d.authenticator).toBeNull();
      const issuer = check(d, 'issuer');
      expect(issuer).toMatchObject({ status: 'fail', cause: 'cluster.issuer.entra-version', actual: `https://sts.windows.net/${TENANT}/` });
      expect(issuer.hint).toMatch(/accessTokenAcceptedVersion: 2/);
      expect(check(d, 'signature').status).toBe('skip');
    });

    it('authenticates the Entra v2 token through discoveryURL and maps oid as username and uid', async () => {
      const claims = fixtureClaims('entra-v2-access-token', NOW);
      const d = await diagnose(await entra.sign(claims), clusterConfig(version));
      expect(d.verdict).toBe('authenticated');
      expect(d.user).toEqual({ username: 'entra:9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d', groups: ['entra:c5e1f0a2-3b4c-4d5e-8f9a-0b1c2d3e4f5a', 'system:authenticated'], uid: '9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d', extra: {} });
      expect(check(d, 'discovery').message).toMatch(/discoveryURL/);
    });

    it('refuses a token that expired 30 s ago: the apiserver allows no leeway on exp', async () => {
      const d = await diagnose(await keycloak.sign(kcClaims({ iat: NOW - 330, exp: NOW - 30 })), clusterConfig(version));
      expect(d.verdict).toBe('refused');
      expect(check(d, 'expiry')).toMatchObject({ status: 'fail', cause: 'cluster.expiry.expired', seconds: 30, leeway_seconds: 0 });
      expect(check(d, 'expiry').message).toMatch(/expired 30 s ago/);
    });

    it('refuses a token whose nbf is 120 s ahead (over the fixed 60 s leeway) and accepts one 45 s ahead', async () => {
      const ahead = await diagnose(await keycloak.sign(kcClaims({ nbf: NOW + 120 })), clusterConfig(version));
      expect(ahead.verdict).toBe('refused');
      expect(check(ahead, 'not_before')).toMatchObject({ status: 'fail', seconds: 120, leeway_seconds: 60, cause: 'cluster.not_before.future' });
      const within = await diagnose(await keycloak.sign(kcClaims({ nbf: NOW + 45 })), clusterConfig(version));
      expect(within.verdict).toBe('authenticated');
      expect(check(within, 'not_before')).toMatchObject({ status: 'pass', seconds: 45 });
    });

    it('authenticates a token issued 300 s in the future, with a warning: the apiserver does not check iat', async () => {
      const d = await diagnose(await keycloak.sign(kcClaims({ iat: NOW + 300, exp: NOW + 600 })), clusterConfig(version));
      expect(d.verdict).toBe('authenticated');
      expect(check(d, 'not_before')).toMatchObject({ status: 'warn' });
      expect(check(d, 'not_before').message).toMatch(/iat is 300 s in the future/);
    });

    it('refuses a token that fails the CEL claim validation rule, with the rule and its message', async () => {
      const d = await diagnose(await keycloak.sign(kcClaims({ exp: NOW + 7200 })), clusterConfig(version));
      expect(d.verdict).toBe('refused');
      const rule = check(d, 'claim_validation');
      expect(rule).toMatchObject({ status: 'fail', cause: 'cluster.claim_validation.rule-false' });
      expect(rule.rules).toEqual([{ rule: 'claims.exp - claims.iat <= 3600', status: 'fail', message: 'false: tokens live at most an hour' }]);
    });

    it('refuses a token without the username claim', async () => {
      const claims = kcClaims();
      delete claims.sub;
      const d = await diagnose(await keycloak.sign(claims), clusterConfig(version));
      expect(d.verdict).toBe('refused');
      expect(check(d, 'claim_mapping')).toMatchObject({ status: 'fail', cause: 'cluster.claim_mapping.username-missing' });
      expect(check(d, 'user_validation').status).toBe('skip');
      expect(d.mapped_user).toBeUndefined();
    });

    it('refuses an unverified email as username, and accepts it when email_verified is absent (as the apiserver does)', async () => {
      const base = mailClaims(issuers, NOW);
      const unverified = await diagnose(await mail.sign({ ...base, email_verified: false }), clusterConfig(version));
      expect(unverified.verdict).toBe('refused');
      expect(check(unverified, 'claim_mapping')).toMatchObject({ status: 'fail', cause: 'cluster.claim_mapping.email-unverified' });
      const absent = await diagnose(await mail.sign(base), clusterConfig(version));
      expect(absent.verdict).toBe('authenticated');
      expect(absent.user?.username).toBe('bob@example.com');
      expect(check(absent, 'signature').message).toMatch(/^ES256/);
    });

    it('refuses a token signed by a key the JWKS does not publish', async () => {
      const unknownKid = await diagnose(await keycloak.sign(kcClaims(), { kid: 'rotated-away', foreignKey: true }), clusterConfig(version));
      expect(unknownKid.verdict).toBe('refused');
      expect(check(unknownKid, 'signature')).toMatchObject({ status: 'fail', cause: 'cluster.signature.kid-unknown', actual: 'rotated-away', expected: [keycloak.kid] });
      const reusedKid = await diagnose(await keycloak.sign(kcClaims(), { foreignKey: true }), clusterConfig(version));
      expect(check(reusedKid, 'signature')).toMatchObject({ status: 'fail', cause: 'cluster.signature.invalid' });
    });
  });
}

describe('the rows the stack suite proves against the real kube-apiserver (test/stack/diagnose-cluster.test.ts)', () => {
  for (const version of ['v1', 'v1beta1'] as const) {
    for (const r of TABLE_ROWS) {
      it(`${version}: ${r.row} is ${r.verdict}${r.check?.cause ? ` (${r.check.cause})` : ''}`, async () => {
        expectRow(r, await diagnose(await r.token(issuers, NOW), clusterConfig(version)), issuers);
      });
    }
  }
});

describe('claims as kube-apiserver decodes them (Go encoding/json into go-oidc\'s idToken), not as JSON reads them', () => {
  const entraToken = (overrides: Record<string, unknown>) => entra.sign(fixtureClaims('entra-v2-access-token', NOW, overrides));

  it('reads exp, nbf and iat as whole seconds, from numbers or strings holding one: exp NOW + 0.9 has expired at NOW + 0.5', async () => {
    const fraction = await diagnose(await mail.sign(mailClaims(issuers, NOW, { exp: NOW + 0.9 })), clusterConfig('v1'), NOW + 0.5);
    expect(check(fraction, 'expiry')).toMatchObject({ status: 'fail', cause: 'cluster.expiry.expired', actual: NOW });
    const strings = await diagnose(await mail.sign(mailClaims(issuers, NOW, { exp: `${NOW + 300}`, nbf: `${NOW + 100}.5` })), clusterConfig('v1'));
    expect(check(strings, 'expiry')).toMatchObject({ status: 'pass', seconds: -300 });
    expect(check(strings, 'not_before')).toMatchObject({ status: 'fail', cause: 'cluster.not_before.future', seconds: 100 });
  });

  it('refuses exp, iat or nbf of another type, iat null included, but takes a null nbf as none', async () => {
    const badExp = await diagnose(await mail.sign(mailClaims(issuers, NOW, { exp: true })), clusterConfig('v1'));
    expect(check(badExp, 'expiry')).toMatchObject({ status: 'fail', cause: 'cluster.expiry.malformed', message: 'exp is a boolean (true): the apiserver cannot decode the token' });
    const badTimes = await diagnose(await mail.sign(mailClaims(issuers, NOW, { iat: null, nbf: [NOW] })), clusterConfig('v1'));
    expect(check(badTimes, 'not_before')).toMatchObject({ status: 'fail', cause: 'cluster.not_before.malformed', message: 'nbf is a list; iat is null: the apiserver cannot decode the token' });
    const nullNbf = await diagnose(await mail.sign(mailClaims(issuers, NOW, { nbf: null })), clusterConfig('v1'));
    expect(nullNbf.verdict).toBe('authenticated');
    expect(check(nullNbf, 'not_before').message).toBe('no nbf claim');
  });

  it('refuses a payload go-oidc cannot decode, though the signature verifies: sub, nonce or at_hash not strings, a dangling _claim_names entry', async () => {
    const d = await diagnose(await entraToken({ sub: 42, at_hash: {}, _claim_names: { groups: 'src1' }, _claim_sources: { other: { endpoint: 'https://graph.example' } } }), clusterConfig('v1'));
    expect(d.verdict).toBe('refused');
    expect(check(d, 'signature')).toMatchObject({ status: 'fail', cause: 'cluster.signature.payload' });
    expect(check(d, 'signature').message).toBe('the signature verifies, but the apiserver\'s OIDC library cannot decode the claims: sub is a number (42), not a string; at_hash is an object, not a string; _claim_names.groups names source "src1", which _claim_sources does not have');
    const nullSub = await diagnose(await entraToken({ sub: null, nonce: null }), clusterConfig('v1'));
    expect(nullSub.verdict).toBe('authenticated');
  });

  it('refuses an aud list holding anything but strings, whichever audience it also holds', async () => {
    const d = await diagnose(await mail.sign(mailClaims(issuers, NOW, { aud: ['kubernetes', 5] })), clusterConfig('v1'));
    expect(check(d, 'audience')).toMatchObject({ status: 'fail', cause: 'cluster.audience.malformed', expected: ['kubernetes'] });
  });

  it('reads a null claim as "" or no entries: the bare prefix as username (with a warning), no groups, an empty uid', async () => {
    const d = await diagnose(await entraToken({ oid: null, groups: null }), clusterConfig('v1'));
    expect(d.verdict).toBe('authenticated');
    expect(d.user).toEqual({ username: 'entra:', groups: ['system:authenticated'], uid: '', extra: {} });
    expect(check(d, 'claim_mapping')).toMatchObject({ status: 'warn' });
    expect(check(d, 'claim_mapping').message).toMatch(/^the username claim is null, which the apiserver reads as "": every such token is the user "entra:"/);
    const nullGroup = await diagnose(await entraToken({ groups: ['a', null] }), clusterConfig('v1'));
    expect(nullGroup.user?.groups).toEqual(['entra:a', 'entra:', 'system:authenticated']);
  });
});

describe('the issuer, discovery and signature as the apiserver checks them', () => {
  it('names a trailing-slash near miss and refuses', async () => {
    const d = await diagnose(await keycloak.sign(kcClaims({ iss: `${keycloak.issuer}/` })), clusterConfig('v1'));
    expect(check(d, 'issuer')).toMatchObject({ status: 'fail', cause: 'cluster.issuer.trailing-slash' });
  });

  it('names Keycloak\'s /auth prefix, and an api:// audience against the Entra client-id GUID', async () => {
    const withAuthPrefix = clusterConfig('v1').replace(`url: ${keycloak.issuer}`, `url: ${keycloak.base}/auth/realms/platform`);
    const kc = await diagnose(await keycloak.sign(kcClaims()), withAuthPrefix);
    expect(check(kc, 'issuer')).toMatchObject({ status: 'fail', cause: 'cluster.issuer.keycloak-auth-path' });
    const entraUri = await diagnose(await entra.sign(fixtureClaims('entra-v2-access-token', NOW, { aud: 'api://argo-sts' })), clusterConfig('v1'));
    expect(check(entraUri, 'audience')).toMatchObject({ status: 'fail', cause: 'cluster.audience.entra-uri-vs-guid', actual: ['api://argo-sts'] });
  });

  it('says so when the token still carries its "Bearer " prefix', async () => {
    const d = await diagnose(`Bearer ${await keycloak.sign(kcClaims())}`, clusterConfig('v1'));
    expect(check(d, 'issuer')).toMatchObject({ status: 'fail', cause: 'cluster.issuer.not-a-jwt' });
    expect(check(d, 'issuer').message).toMatch(/starts with "Bearer "/);
    expect(JSON.stringify(d)).not.toContain('eyJ');
  });

  it('refuses when the discovery document names another issuer', async () => {
    const text = clusterConfig('v1').replace(`discoveryURL: ${entra.discoveryUrl}`, `discoveryURL: ${keycloak.discoveryUrl}`)
      .replace(indentPem(entra.caPem, 8), indentPem(keycloak.caPem, 8));
    const d = await diagnose(await entra.sign(fixtureClaims('entra-v2-access-token', NOW)), text);
    expect(check(d, 'discovery')).toMatchObject({ status: 'fail', cause: 'cluster.discovery.issuer-mismatch', actual: keycloak.issuer });
    expect(check(d, 'signature').status).toBe('skip');
  });

  it('refuses when the issuer\'s certificate is not trusted (no certificateAuthority)', async () => {
    const text = clusterConfig('v1').replace(/ {6}certificateAuthority: \|\n(?: {8}.*\n)+/, '');
    const d = await diagnoseClusterToken({
      token: await keycloak.sign(kcClaims()), config: parseAuthenticationConfig(text), now: NOW * 1000,
      fetchFor: (ca) => (ca ? fetchTrustingCa(ca) : fetch),
    });
    expect(check(d, 'discovery')).toMatchObject({ status: 'fail', cause: 'cluster.discovery.unreachable' });
    expect(d.verdict).toBe('refused');
  });

  it('with the legacy --oidc-* flags, prefixes the username with issuer# and accepts only RS256', async () => {
    const flags = `    - --oidc-issuer-url=${keycloak.issuer}\n    - --oidc-client-id=argo-sts\n    - --oidc-groups-claim=groups\n    - --oidc-required-claim=azp=argo-cli\n    - --oidc-ca-file=/etc/kubernetes/pki/keycloak-ca.pem`;
    const config = parseAuthenticationConfig(flags);
    expect(config).toMatchObject({ source: 'flags', signingAlgs: ['RS256'], problems: [] });
    expect(config.jwt[0]!.issuer.certificateAuthorityFile).toBe('/etc/kubernetes/pki/keycloak-ca.pem');
    const trustKeycloak = () => fetchTrustingCa(keycloak.caPem);
    const d = await diagnoseClusterToken({ token: await keycloak.sign(kcClaims()), config, now: NOW * 1000, fetchFor: trustKeycloak });
    expect(d.verdict).toBe('authenticated');
    expect(d.user).toMatchObject({ username: `${keycloak.issuer}#f2b6c1d4-3e5a-4b7c-9d8e-0a1b2c3d4e5f`, groups: ['platform-engineers', 'argo-users', 'system:authenticated'] });
    const wrongAzp = await diagnoseClusterToken({ token: await keycloak.sign(kcClaims({ azp: 'other' })), config, now: NOW * 1000, fetchFor: trustKeycloak });
    expect(check(wrongAzp, 'claim_validation')).toMatchObject({ status: 'fail', cause: 'cluster.claim_validation.required-claim' });

    const es = parseAuthenticationConfig(`--oidc-issuer-url=${mail.issuer} --oidc-client-id=kubernetes --oidc-username-claim=email`);
    const esToken = await mail.sign(mailClaims(issuers, NOW));
    const refused = await diagnoseClusterToken({ token: esToken, config: es, now: NOW * 1000, fetchFor: () => fetchTrustingCa(mail.caPem) });
    expect(check(refused, 'signature')).toMatchObject({ status: 'fail', cause: 'cluster.signature.algorithm', actual: 'ES256' });
    expect(refused.mapped_user?.username).toBe('bob@example.com');
  });
});
