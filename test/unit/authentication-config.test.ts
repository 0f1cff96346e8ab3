/**
 * Reading an AuthenticationConfiguration as kube-apiserver does: strict decoding and its
 * validation rules, each named by the path the apiserver names; and CEL with the `claims` and
 * `user` variables and Kubernetes' semantics.
 */
import { describe, expect, it } from 'vitest';
import { parseAuthenticationConfig } from '../../shared/cluster/authentication-config.ts';
import { AuthenticationConfigError } from '../../shared/cluster/kube-authn-model.ts';
import { diagnoseClusterToken } from '../../shared/cluster/diagnose-cluster.ts';
import { compileKubeCel } from '../../shared/cluster/kube-cel.ts';

function config(jwt: string, version = 'v1'): string {
  return `apiVersion: apiserver.config.k8s.io/${version}\nkind: AuthenticationConfiguration\njwt:\n${jwt}`;
}

const ISSUER = '  - issuer: { url: "https://idp.example.com", audiences: [kubernetes] }\n';

function problems(text: string) {
  return parseAuthenticationConfig(text).problems.map((p) => `${p.path}: ${p.message}`);
}

describe('AuthenticationConfiguration validation (the apiserver would not start)', () => {
  it('accepts a minimal v1 and v1beta1 config', () => {
    for (const version of ['v1', 'v1beta1']) {
      const parsed = parseAuthenticationConfig(config(`${ISSUER}    claimMappings: { username: { claim: sub, prefix: "" } }\n`, version));
      expect(parsed).toMatchObject({ source: version, problems: [] });
      expect(parsed.signingAlgs).toContain('ES256');
    }
  });

  it('requires username.prefix when username.claim is set (an empty string disables it)', () => {
    expect(problems(config(`${ISSUER}    claimMappings: { username: { claim: sub } }\n`))).toEqual([
      'jwt[0].claimMappings.username.prefix: prefix is required when claim is set. It can be set to an empty string to disable prefixing',
    ]);
  });

  it('refuses a prefix with an expression, and claim with expression', () => {
    expect(problems(config(`${ISSUER}    claimMappings: { username: { expression: "claims.sub", prefix: "x:" }, groups: { claim: g, expression: "claims.g", prefix: "" } }\n`))).toEqual([
      'jwt[0].claimMappings.username.prefix: may not be specified when expression is set',
      "jwt[0].claimMappings.groups: claim and expression can't both be set",
    ]);
  });

  it('refuses claims.email in the username expression unless claims.email_verified is used somewhere', () => {
    const unguarded = config(`${ISSUER}    claimMappings: { username: { expression: "claims.email" } }\n`);
    expect(problems(unguarded)[0]).toMatch(/^jwt\[0\]\.claimMappings\.username\.expression: claims\.email_verified must be used/);
    const guardedByRule = config(`${ISSUER}    claimValidationRules: [{ expression: "claims.email_verified == true" }]\n    claimMappings: { username: { expression: "claims.email" } }\n`);
    expect(problems(guardedByRule)).toEqual([]);
    const guardedInline = config(`${ISSUER}    claimMappings: { username: { expression: "claims.email_verified ? claims.email : ''" } }\n`);
    expect(problems(guardedInline)).toEqual([]);
  });

  it('refuses http issuers, queries, identical discoveryURL, duplicate issuers and several audiences without MatchAny', () => {
    const text = config(`  - issuer: { url: "http://idp.example.com?x=1", discoveryURL: "http://idp.example.com?x=1/", audiences: [a, b] }
    claimMappings: { username: { claim: sub, prefix: "" } }
  - issuer: { url: "http://idp.example.com?x=1", audiences: [a] }
    claimMappings: { username: { claim: sub, prefix: "" } }
`);
    expect(problems(text)).toEqual(expect.arrayContaining([
      'jwt[0].issuer.url: URL scheme must be https',
      'jwt[0].issuer.url: URL must not contain a query',
      'jwt[0].issuer.discoveryURL: discoveryURL must be different from URL',
      'jwt[0].issuer.audienceMatchPolicy: audienceMatchPolicy must be MatchAny for multiple audiences',
      'jwt[1].issuer.url: Duplicate value: "http://idp.example.com?x=1"',
    ]));
  });

  it('decodes strictly: an unknown field is an error, as is a reserved or unprefixed extra key', () => {
    const text = config(`${ISSUER}    claimMapping: {}\n    claimMappings:\n      username: { claim: sub, prefix: "" }\n      extra:\n        - { key: "kubernetes.io/x", valueExpression: "claims.sub" }\n        - { key: "Foo", valueExpression: "claims.sub" }\n`);
    expect(problems(text)).toEqual([
      'jwt[0].claimMapping: unknown field (the apiserver decodes strictly)',
      'jwt[0].claimMappings.extra[0].key: k8s.io, kubernetes.io and their subdomains are reserved for Kubernetes use',
      'jwt[0].claimMappings.extra[1].key: must be a domain-prefixed path (such as "acme.io/foo")',
      'jwt[0].claimMappings.extra[1].key: must be lowercase',
    ]);
  });

  it('accepts an extra key whose domain has no dot, as IsDomainPrefixedPath does', () => {
    expect(problems(config(`${ISSUER}    claimMappings:\n      username: { claim: sub, prefix: "" }\n      extra: [{ key: "example/team", valueExpression: "claims.sub" }]\n`))).toEqual([]);
  });

  it('reads the --oidc-* flags out of a kube-apiserver static Pod manifest', () => {
    const manifest = `apiVersion: v1
kind: Pod
metadata: { name: kube-apiserver, namespace: kube-system }
spec:
  containers:
    - name: kube-apiserver
      command:
        - kube-apiserver
        - --oidc-issuer-url=https://kc.example.com/realms/platform
        - --oidc-client-id=kubernetes
        - --oidc-username-claim=email
        - "--oidc-groups-claim=groups"
`;
    const parsed = parseAuthenticationConfig(manifest);
    expect(parsed).toMatchObject({ source: 'flags', problems: [] });
    expect(parsed.jwt[0]!.claimMappings.username).toEqual({ claim: 'email', prefix: '' });
    expect(parsed.jwt[0]!.claimMappings.groups).toEqual({ claim: 'groups', prefix: '' });
  });

  it('refuses a claim validation rule that does not compile or is not boolean', () => {
    const text = config(`${ISSUER}    claimValidationRules: [{ expression: "claims.sub +" }, { expression: "claims.sub.size()" }]\n    claimMappings: { username: { claim: sub, prefix: "" } }\n`);
    const found = problems(text);
    expect(found[0]).toMatch(/^jwt\[0\]\.claimValidationRules\[0\]\.expression: compilation failed/);
    expect(found[1]).toBe('jwt[0].claimValidationRules[1].expression: must evaluate to bool, not int');
  });

  it('throws for text that is neither a config nor flags', () => {
    expect(() => parseAuthenticationConfig('kind: Pod\napiVersion: v1\n')).toThrow(AuthenticationConfigError);
    expect(() => parseAuthenticationConfig('{ not yaml')).toThrow(AuthenticationConfigError);
  });
});

describe('CEL with Kubernetes semantics', () => {
  it('treats JSON integers as ints, so lifetime arithmetic works', () => {
    const rule = compileKubeCel('claims.exp - claims.iat <= 600', 'claims');
    expect(rule.ok && rule.evaluate({ exp: 1600, iat: 1000 })).toEqual({ ok: true, value: true });
    expect(rule.ok && rule.evaluate({ exp: 1601, iat: 1000 })).toEqual({ ok: true, value: false });
  });

  it('errors on a missing claim (the apiserver refuses), while has() and optionals are false or defaulted', () => {
    const bare = compileKubeCel('claims.hd == "example.com"', 'claims');
    const result = bare.ok ? bare.evaluate({}) : undefined;
    expect(result).toMatchObject({ ok: false });
    const guarded = compileKubeCel('has(claims.hd) && claims.hd == "example.com"', 'claims');
    expect(guarded.ok && guarded.evaluate({})).toEqual({ ok: true, value: false });
    const optional = compileKubeCel('claims.?hd.orValue("none")', 'claims');
    expect(optional.ok && optional.evaluate({})).toEqual({ ok: true, value: 'none' });
  });

  it('provides the string extensions Kubernetes enables', () => {
    const e = compileKubeCel('claims.email.split("@")[0].lowerAscii().replace(".", "-")', 'claims');
    expect(e.ok && e.evaluate({ email: 'Bob.Smith@example.com' })).toEqual({ ok: true, value: 'bob-smith' });
  });

  it('evaluates user rules over the mapped user', () => {
    const e = compileKubeCel("!user.username.startsWith('system:') && user.groups.exists(g, g == 'ops')", 'user');
    expect(e.ok && e.evaluate({ username: 'system:admin', uid: '', groups: ['ops'], extra: {} })).toEqual({ ok: true, value: false });
    expect(e.ok && e.evaluate({ username: 'alice', uid: '', groups: ['ops'], extra: {} })).toEqual({ ok: true, value: true });
  });

  it('says "unsupported", not invalid, for a Kubernetes library function it lacks', () => {
    expect(compileKubeCel('url(claims.iss).getHost() == "idp.example.com"', 'claims')).toMatchObject({ ok: false, kind: 'unsupported' });
    expect(compileKubeCel('claims.sub ==', 'claims')).toMatchObject({ ok: false, kind: 'invalid' });
  });

  it('refuses an empty username from an expression, as the apiserver does', async () => {
    const parsed = parseAuthenticationConfig(config(`${ISSUER}    claimMappings: { username: { expression: "has(claims.upn) ? claims.upn : ''" } }\n`));
    const token = ['{"alg":"RS256"}', '{"iss":"https://idp.example.com","aud":"kubernetes","exp":2000000000}', 'sig'].map((p) => btoa(p).replace(/=+$/, '')).join('.');
    const d = await diagnoseClusterToken({ token, config: parsed, now: 1_790_000_000_000, fetchFor: () => () => Promise.reject(new Error('offline')) });
    expect(d.checks.find((c) => c.check === 'claim_mapping')).toMatchObject({ status: 'fail', cause: 'cluster.claim_mapping.expression-error' });
    expect(d.checks.find((c) => c.check === 'claim_mapping')?.message).toMatch(/empty username/);
  });
});
