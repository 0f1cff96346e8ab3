/**
 * `argo-sts render`: the cluster side of a config, compared with golden files and validated
 * against the Kubernetes schemas (see test/support/validate-manifests.ts for what checks what).
 * Regenerate the golden files after an intended change with UPDATE_GOLDEN=1.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { authenticationConfigVersion, renderCluster } from '../../shared/cluster/render-cluster.ts';
import { groupFor } from '../../shared/policy/scopes.ts';
import { runCliCaptured } from '../support/run-cli.ts';
import { validateAuthenticationConfiguration, validateManifest } from '../support/validate-manifests.ts';

const GOLDEN = fileURLToPath(new URL('../golden/', import.meta.url));
const CONFIG = join(GOLDEN, 'render-config.yaml');
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function cli(args: string[]) {
  return runCliCaptured(args);
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

function documents(text: string): Record<string, any>[] {
  return parseAllDocuments(text).map((d) => d.toJS()).filter((d) => d !== null);
}

async function renderTo(config: string, extra: string[] = []): Promise<{ out: string; stderr: string }> {
  const out = mkdtempSync(join(tmpdir(), 'argo-sts-render-'));
  dirs.push(out);
  const result = await cli(['render', '--config', config, '--out', out, ...extra]);
  expect(result.code).toBe(0);
  return { out, stderr: result.stderr };
}

describe('argo-sts render', () => {
  it('writes exactly the golden files for the golden config', async () => {
    const { out } = await renderTo(CONFIG);
    const golden = join(GOLDEN, 'render');
    if (process.env.UPDATE_GOLDEN) {
      rmSync(golden, { recursive: true, force: true });
      for (const file of listFiles(out)) {
        mkdirSync(dirname(join(golden, file)), { recursive: true });
        writeFileSync(join(golden, file), readFileSync(join(out, file)));
      }
    }
    expect(listFiles(out)).toEqual(listFiles(golden));
    for (const file of listFiles(golden)) expect(readFileSync(join(out, file), 'utf8'), file).toBe(readFileSync(join(golden, file), 'utf8'));
  });

  it('renders manifests that validate against the Kubernetes schemas', async () => {
    for (const config of [CONFIG, join(ROOT, 'infra/examples/all-targets.yaml'), join(ROOT, 'infra/examples/production.yaml')]) {
      const { out } = await renderTo(config);
      const problems = listFiles(out).flatMap((file) => documents(readFileSync(join(out, file), 'utf8')).flatMap((doc) => validateManifest(doc).map((p) => `${file}: ${p}`)));
      expect(problems).toEqual([]);
    }
  });

  it('keeps infra/rendered in step with infra/examples/all-targets.yaml', async () => {
    const { out } = await renderTo(join(ROOT, 'infra/examples/all-targets.yaml'));
    const committed = join(ROOT, 'infra/rendered');
    expect(listFiles(out)).toEqual(listFiles(committed));
    for (const file of listFiles(committed)) expect(readFileSync(join(out, file), 'utf8'), file).toBe(readFileSync(join(committed, file), 'utf8'));
  });

  it('caps exp - iat at defaults.max_ttl, maps sub and groups under the argo-sts: prefix, and act.sub and jti into extra', async () => {
    const { out } = await renderTo(CONFIG);
    const [auth] = documents(readFileSync(join(out, 'argo-prod/authentication-config.yaml'), 'utf8'));
    expect(auth).toEqual({
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'AuthenticationConfiguration',
      jwt: [{
        issuer: { url: 'https://sts.example.com/tenant-a', audiences: ['https://prod.k8s.example.com'] },
        claimValidationRules: [{ expression: 'claims.exp - claims.iat <= 7200', message: 'argo-sts tokens live at most 7200 s (defaults.max_ttl)' }],
        claimMappings: {
          username: { claim: 'sub', prefix: 'argo-sts:' },
          groups: { claim: 'groups', prefix: '' },
          extra: [{ key: 'argo-sts.io/actor', valueExpression: "has(claims.act) && has(claims.act.sub) ? claims.act.sub : ''" }],
        },
        userValidationRules: [{ expression: "user.groups.all(g, g.startsWith('argo-sts:'))", message: 'argo-sts tokens carry only argo-sts: groups' }],
      }],
    });
  });

  it('refuses to render an http issuer, which kube-apiserver refuses to start with', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'argo-sts-render-'));
    dirs.push(dir);
    const config = join(dir, 'http.yaml');
    writeFileSync(config, readFileSync(CONFIG, 'utf8').replace('issuer: https://sts.example.com/tenant-a', 'issuer: http://127.0.0.1:8787'));
    const result = await cli(['render', '--config', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('issuer http://127.0.0.1:8787 is not https');
  });

  it('writes the issuer CA and discovery URL it is given into the AuthenticationConfiguration', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'argo-sts-render-'));
    dirs.push(dir);
    const pem = '-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n';
    writeFileSync(join(dir, 'ca.pem'), pem);
    const { out } = await renderTo(CONFIG, ['--issuer-ca', join(dir, 'ca.pem'), '--discovery-url', 'https://argo-sts.argo-sts.svc/.well-known/openid-configuration']);
    const [auth] = documents(readFileSync(join(out, 'argo-prod/authentication-config.yaml'), 'utf8'));
    expect(auth!.jwt[0].issuer).toEqual({
      url: 'https://sts.example.com/tenant-a',
      discoveryURL: 'https://argo-sts.argo-sts.svc/.well-known/openid-configuration',
      certificateAuthority: pem,
      audiences: ['https://prod.k8s.example.com'],
    });
    const notPem = await cli(['render', '--config', CONFIG, '--issuer-ca', CONFIG]);
    expect(notPem.code).toBe(2);
  });

  it('quotes strings YAML 1.1 reads as booleans (a namespace "no", an audience "on")', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'argo-sts-render-'));
    dirs.push(dir);
    const config = join(dir, 'yaml11.yaml');
    writeFileSync(config, readFileSync(CONFIG, 'utf8').replace('audience: https://prod.k8s.example.com', 'audience: "on"').replace(/namespaces: \[ci\]/, 'namespaces: ["no"]'));
    const { out } = await renderTo(config);
    const auth = readFileSync(join(out, 'argo-prod/authentication-config.yaml'), 'utf8');
    expect(auth).toContain('- "on"');
    const rbac = readFileSync(join(out, 'argo-prod/rbac.yaml'), 'utf8');
    expect(rbac).toContain('namespace: "no"');
    expect(rbac).not.toMatch(/namespace: no$/m);
  });

  it('uses apiserver.config.k8s.io/v1beta1 for Kubernetes 1.30–1.33 and refuses older clusters', async () => {
    expect(authenticationConfigVersion('1.30')).toBe('v1beta1');
    expect(authenticationConfigVersion('1.33')).toBe('v1beta1');
    expect(authenticationConfigVersion('1.34')).toBe('v1');
    expect(authenticationConfigVersion('v1.35.2')).toBe('v1');
    const { out } = await renderTo(CONFIG, ['--k8s-version', '1.31']);
    const [auth] = documents(readFileSync(join(out, 'argo-prod/authentication-config.yaml'), 'utf8'));
    expect(auth!.apiVersion).toBe('apiserver.config.k8s.io/v1beta1');
    const old = await cli(['render', '--config', CONFIG, '--k8s-version', '1.29']);
    expect(old.code).toBe(2);
    expect(old.stderr).toMatch(/1\.30 is the oldest supported/);
  });

  it('binds each (namespace, scope) group the policies grant to a Role with exact verbs, and k8s:view to the ClusterRole', () => {
    const config = parseConfigText(readFileSync(CONFIG, 'utf8'));
    const rbac = renderCluster(config).files.find((f) => f.path === 'argo-prod/rbac.yaml')!.documents as readonly Record<string, any>[];
    const bindings = rbac.filter((d) => d.kind === 'RoleBinding').map((b) => `${b.metadata.namespace} ${b.subjects[0].name} -> ${b.roleRef.kind}/${b.roleRef.name}`);
    expect(bindings).toEqual([
      `ci ${groupFor('ci', 'argo:logs')} -> Role/argo-sts:argo:logs`,
      `ci ${groupFor('ci', 'argo:manage')} -> Role/argo-sts:argo:manage`,
      `ci ${groupFor('ci', 'argo:read')} -> Role/argo-sts:argo:read`,
      `ci ${groupFor('ci', 'argo:submit')} -> Role/argo-sts:argo:submit`,
      `ci ${groupFor('ci', 'k8s:view')} -> ClusterRole/view`,
      `staging ${groupFor('staging', 'argo:logs')} -> Role/argo-sts:argo:logs`,
      `staging ${groupFor('staging', 'argo:manage')} -> Role/argo-sts:argo:manage`,
      `staging ${groupFor('staging', 'k8s:view')} -> ClusterRole/view`,
    ]);
    const verbs = (scope: string, group: string, resource: string) => rbac
      .filter((d) => d.kind === 'Role' && d.metadata.namespace === 'ci' && d.metadata.name === `argo-sts:${scope}`)
      .flatMap((r) => r.rules)
      .filter((rule: any) => rule.apiGroups.includes(group) && rule.resources.includes(resource))
      .flatMap((rule: any) => rule.verbs)
      .sort();
    expect(verbs('argo:read', 'argoproj.io', 'workflows')).toEqual(['get', 'list', 'watch']);
    expect(verbs('argo:read', 'argoproj.io', 'workflowtaskresults')).toEqual(['get', 'list', 'watch']);
    expect(verbs('argo:read', '', 'pods/log')).toEqual(['get', 'list', 'watch']);
    // Argo UI's Events tab watches core events.
    expect(verbs('argo:read', '', 'events')).toEqual(['get', 'list', 'watch']);
    expect(verbs('argo:submit', '', 'events')).toEqual(['get', 'list', 'watch']);
    expect(verbs('argo:submit', 'argoproj.io', 'workflows')).toEqual(['create', 'get', 'list', 'watch']);
    expect(verbs('argo:submit', 'argoproj.io', 'workflowtemplates')).toEqual(['get', 'list', 'watch']);
    expect(verbs('argo:manage', 'argoproj.io', 'cronworkflows')).toEqual(['create', 'delete', 'get', 'list', 'patch', 'update', 'watch']);
    expect(verbs('argo:manage', '', 'pods')).toEqual(['delete', 'get', 'list', 'watch']);
    expect(verbs('argo:logs', '', 'pods/log')).toEqual(['get', 'list']);
  });

  it("gives the broker only create on serviceaccounts/token for the named ServiceAccounts, and warns when one ServiceAccount carries several policies' scopes", async () => {
    const { out, stderr } = await renderTo(CONFIG);
    const access = documents(readFileSync(join(out, 'argo-legacy/broker-access.yaml'), 'utf8'));
    const roles = access.filter((d) => d.kind === 'Role');
    expect(roles.map((r) => [r.metadata.namespace, r.rules])).toEqual([
      ['batch', [{ apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'], resourceNames: ['argo-submitter'] }]],
      ['nightly', [{ apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'], resourceNames: ['argo-submitter'] }]],
    ]);
    expect(access.filter((d) => d.kind === 'RoleBinding').every((b) => b.subjects[0].kind === 'ServiceAccount' && b.subjects[0].name === 'argo-sts' && b.subjects[0].namespace === 'argo-sts')).toBe(true);
    expect(stderr).toMatch(/ServiceAccount batch\/argo-submitter carries every scope its policies grant \(argo:read, argo:submit\)/);
    expect(stderr).not.toMatch(/nightly\/argo-submitter carries/);
  });

  it('sets Argo Server to --auth-mode=client alone', async () => {
    const { out } = await renderTo(CONFIG, ['--argo-namespace', 'workflows']);
    const [patch] = documents(readFileSync(join(out, 'argo-prod/argo-server-patch.yaml'), 'utf8'));
    expect(patch!.metadata).toEqual({ name: 'argo-server', namespace: 'workflows' });
    const args: string[] = patch!.spec.template.spec.containers[0].args;
    expect(args.filter((a) => a.startsWith('--auth-mode'))).toEqual(['--auth-mode=client']);
  });

  it('prints every file to stdout without --out', async () => {
    const result = await cli(['render', '--config', CONFIG]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('# ==> argo-prod/authentication-config.yaml <==');
    expect(documents(result.stdout).map((d) => d.kind)).toContain('AuthenticationConfiguration');
  });
});

describe('the manifest checks themselves', () => {
  it('catch a broken AuthenticationConfiguration the API server would refuse', () => {
    expect(validateAuthenticationConfiguration({
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'AuthenticationConfiguration',
      jwt: [{
        issuer: { url: 'http://sts.example.com', audiences: ['a', 'b'] },
        claimValidationRules: [{ expression: 'true' }],
        claimMappings: { username: { claim: 'sub' }, groups: { claim: 'groups', expression: 'claims.groups', prefix: '' } },
        typo: true,
      }],
    })).toEqual([
      'jwt[0].typo: unknown field',
      'jwt[0].issuer.url: must be https without query, fragment or user info',
      'jwt[0].issuer.audienceMatchPolicy: MatchAny is required with several audiences',
      'jwt[0].claimValidationRules[0].message: required with expression',
      'jwt[0].claimMappings.username.prefix: required when claim is set (may be "")',
      'jwt[0].claimMappings.groups: exactly one of claim or expression must be set',
      'jwt[0].claimMappings.groups.prefix: not allowed with expression',
    ]);
  });

  it('catch a Role rule without verbs through the Kubernetes schema', () => {
    const problems = validateManifest({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'x', namespace: 'ci' }, rules: [{ apiGroups: [''], resources: ['pods'] }] });
    expect(problems.join('\n')).toMatch(/must have required property 'verbs'|required property verbs/);
  });
});
