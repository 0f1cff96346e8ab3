/**
 * The cluster side of a config, rendered from the same document the broker runs on
 * (`argo-sts render`). Pure: config and options in, files of manifests out.
 *
 * For each `kubernetes-oidc` target (one cluster trusting argo-sts as a JWT issuer):
 *   - authentication-config.yaml: kube-apiserver AuthenticationConfiguration
 *     (apiserver.config.k8s.io/v1 from Kubernetes 1.34, v1beta1 for 1.30–1.33) with argo-sts as
 *     issuer, the target's audience, username = `argo-sts:` + sub, groups = the `groups` claim,
 *     and a claim validation rule capping `exp - iat` at defaults.max_ttl;
 *   - rbac.yaml: a Role per (namespace, scope) that allow policies grant, and a RoleBinding of
 *     the group `argo-sts:<namespace>:<scope>` to it (k8s:view / k8s:edit bind the ClusterRoles);
 *   - argo-server-patch.yaml: Argo Server with `--auth-mode=client` alone.
 * For each `kubernetes-tokenrequest` target:
 *   - service-accounts.yaml: the ServiceAccounts policies name, bound to the Roles of the scopes
 *     those policies grant (a ServiceAccount token carries all of them: warned when policies
 *     sharing one ServiceAccount grant different scopes);
 *   - broker-access.yaml: the broker's ServiceAccount and token Secret, and in each namespace a
 *     Role allowing only `create` on `serviceaccounts/token` for exactly those ServiceAccounts;
 *   - argo-server-patch.yaml.
 */
import type { Config, PolicyConfig, ScopeDefinition, ScopeRule, TargetConfig } from '../config/schema.ts';
import { BUILT_IN_SCOPES, groupFor } from '../policy/scopes.ts';

export interface RenderOptions {
  /** "1.34": v1 from 1.34, v1beta1 for 1.30–1.33; older has no structured authentication config. */
  readonly k8sVersion: string;
  readonly argoNamespace: string;
  readonly brokerNamespace: string;
  readonly brokerServiceAccount: string;
  /** PEM bundle kube-apiserver trusts for the issuer (jwt[].issuer.certificateAuthority), for a private CA. */
  readonly issuerCertificateAuthority?: string | undefined;
  /** Where kube-apiserver fetches discovery instead of issuer + /.well-known/openid-configuration. */
  readonly discoveryUrl?: string | undefined;
}

export const DEFAULT_RENDER_OPTIONS: RenderOptions = {
  k8sVersion: '1.34',
  argoNamespace: 'argo',
  brokerNamespace: 'argo-sts',
  brokerServiceAccount: 'argo-sts',
};

export type Manifest = Record<string, unknown> & { apiVersion: string; kind: string };

export interface RenderedFile {
  /** Relative path, e.g. `argo-prod/rbac.yaml`. */
  readonly path: string;
  /** What the file is and how to apply it (written as a YAML comment). */
  readonly header: string;
  readonly documents: readonly Manifest[];
}

export interface Rendered {
  readonly files: readonly RenderedFile[];
  readonly warnings: readonly string[];
}

export class RenderError extends Error {
  override name = 'RenderError';
}

const LABELS = { 'app.kubernetes.io/managed-by': 'argo-sts' };
export const USERNAME_PREFIX = 'argo-sts:';
export const ACTOR_EXTRA_KEY = 'argo-sts.io/actor';
const TOKEN_REQUESTER_ROLE = 'argo-sts:token-requester';

/** apiserver.config.k8s.io version for a Kubernetes minor version. */
export function authenticationConfigVersion(k8sVersion: string): 'v1' | 'v1beta1' {
  const match = /^v?1\.(\d+)(\.\d+)?$/.exec(k8sVersion.trim());
  if (!match) throw new RenderError(`--k8s-version must look like 1.34, got "${k8sVersion}"`);
  const minor = Number(match[1]);
  if (minor < 30) throw new RenderError(`Kubernetes 1.${minor} has no structured authentication configuration with CEL rules; 1.30 is the oldest supported`);
  return minor >= 34 ? 'v1' : 'v1beta1';
}

export function renderCluster(config: Config, options: RenderOptions = DEFAULT_RENDER_OPTIONS): Rendered {
  const version = authenticationConfigVersion(options.k8sVersion);
  if (options.discoveryUrl !== undefined && !/^https:\/\/[^/?#]/.test(options.discoveryUrl)) {
    throw new RenderError(`--discovery-url must be an https URL, got "${options.discoveryUrl}"`);
  }
  const files: RenderedFile[] = [];
  const warnings: string[] = [];
  for (const target of config.targets) {
    const policies = config.policies.filter((p) => p.targets.includes(target.name));
    if (target.kind === 'kubernetes-oidc') {
      if (!config.issuer.startsWith('https://')) {
        throw new RenderError(`target ${target.name}: issuer ${config.issuer} is not https; kube-apiserver accepts only https issuer URLs in an AuthenticationConfiguration (serve the broker over TLS)`);
      }
      files.push(
        { path: `${target.name}/authentication-config.yaml`, header: authHeader(target.name), documents: [authenticationConfiguration(config, target.audience, version, options)] },
        { path: `${target.name}/rbac.yaml`, header: `RBAC for target ${target.name}: the groups argo-sts tokens carry, bound to exactly their scopes.\nkubectl apply -f rbac.yaml`, documents: groupRbac(config, policies) },
        argoServerFile(target.name, options),
      );
    } else if (target.kind === 'kubernetes-tokenrequest') {
      files.push(
        { path: `${target.name}/service-accounts.yaml`, header: `ServiceAccounts whose tokens target ${target.name} requests, bound to their scopes.\nkubectl apply -f service-accounts.yaml`, documents: serviceAccountRbac(config, target, policies, warnings) },
        { path: `${target.name}/broker-access.yaml`, header: brokerHeader(target.name, options), documents: brokerAccess(target, policies, options) },
        argoServerFile(target.name, options),
      );
    } else {
      warnings.push(`target ${target.name} (${target.kind}): nothing to render; AKS authorizes Entra identities itself (see docs/cluster-setup.md)`);
    }
  }
  return { files, warnings };
}

function authHeader(target: string): string {
  return `kube-apiserver structured authentication for target ${target}: argo-sts as a JWT issuer.
Place on every control-plane node and start kube-apiserver with
  --authentication-config=/etc/kubernetes/argo-sts/authentication-config.yaml
(it replaces any --oidc-* flags; merge by hand if the cluster trusts other JWT issuers).`;
}

function brokerHeader(target: string, options: RenderOptions): string {
  return `The broker's own, narrow access for target ${target}: it may only create tokens for the ServiceAccounts below.
kubectl apply -f broker-access.yaml, then store the token as the target's credentials:
  kubectl -n ${options.brokerNamespace} get secret ${options.brokerServiceAccount}-token -o jsonpath='{.data.token}' | base64 -d`;
}

export function authenticationConfiguration(
  config: Config,
  audience: string,
  version: 'v1' | 'v1beta1',
  issuerOptions: Pick<RenderOptions, 'issuerCertificateAuthority' | 'discoveryUrl'> = {},
): Manifest {
  const maxTtl = config.defaults.max_ttl;
  return {
    apiVersion: `apiserver.config.k8s.io/${version}`,
    kind: 'AuthenticationConfiguration',
    jwt: [{
      issuer: {
        url: config.issuer,
        ...(issuerOptions.discoveryUrl !== undefined ? { discoveryURL: issuerOptions.discoveryUrl } : {}),
        ...(issuerOptions.issuerCertificateAuthority !== undefined ? { certificateAuthority: issuerOptions.issuerCertificateAuthority } : {}),
        audiences: [audience],
      },
      claimValidationRules: [{
        expression: `claims.exp - claims.iat <= ${maxTtl}`,
        message: `argo-sts tokens live at most ${maxTtl} s (defaults.max_ttl)`,
      }],
      claimMappings: {
        username: { claim: 'sub', prefix: USERNAME_PREFIX },
        groups: { claim: 'groups', prefix: '' },
        // A delegated credential's agent, so the cluster's audit log names it beside the person.
        extra: [{ key: ACTOR_EXTRA_KEY, valueExpression: "has(claims.act) && has(claims.act.sub) ? claims.act.sub : ''" }],
      },
      userValidationRules: [{
        expression: `user.groups.all(g, g.startsWith('${USERNAME_PREFIX}'))`,
        message: `argo-sts tokens carry only ${USERNAME_PREFIX} groups`,
      }],
    }],
  };
}

function argoServerFile(target: string, options: RenderOptions): RenderedFile {
  return {
    path: `${target}/argo-server-patch.yaml`,
    header: `Argo Server in client auth mode only. With "server" mode also on, a request whose Authorization
header lacks "Bearer " silently runs as the server's own ServiceAccount.
kubectl -n ${options.argoNamespace} patch deployment argo-server --patch-file argo-server-patch.yaml`,
    documents: [argoServerPatch(options)],
  };
}

export function argoServerPatch(options: RenderOptions): Manifest {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'argo-server', namespace: options.argoNamespace },
    spec: { template: { spec: { containers: [{ name: 'argo-server', args: ['server', '--auth-mode=client'] }] } } },
  };
}

/** (namespace, scope) pairs that allow policies grant, sorted. */
function grants(policies: readonly PolicyConfig[]): { namespace: string; scope: string }[] {
  const seen = new Set<string>();
  for (const p of policies) for (const ns of p.namespaces) for (const scope of p.scopes) seen.add(`${ns}\u0000${scope}`);
  return [...seen].sort().map((key) => {
    const [namespace, scope] = key.split('\u0000') as [string, string];
    return { namespace, scope };
  });
}

function scopeDefinition(config: Config, scope: string): ScopeDefinition & { clusterRole?: string | undefined } {
  const def = config.scopes.get(scope);
  if (!def) throw new RenderError(`scope ${scope} is not defined`);
  return { ...def, clusterRole: BUILT_IN_SCOPES[scope]?.clusterRole };
}

function roleName(scope: string): string {
  return `argo-sts:${scope}`;
}

function roleFor(config: Config, namespace: string, scope: string): { role?: Manifest; roleRef: Record<string, string> } {
  const def = scopeDefinition(config, scope);
  if (def.clusterRole) return { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: def.clusterRole } };
  return {
    role: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: roleName(scope), namespace, labels: LABELS, annotations: { 'argo-sts.io/scope': scope, ...(def.description ? { 'argo-sts.io/description': def.description } : {}) } },
      rules: def.rules.map((r: ScopeRule) => ({ apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] })),
    },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: roleName(scope) },
  };
}

function groupRbac(config: Config, policies: readonly PolicyConfig[]): Manifest[] {
  const docs: Manifest[] = [];
  for (const { namespace, scope } of grants(policies)) {
    const { role, roleRef } = roleFor(config, namespace, scope);
    if (role) docs.push(role);
    docs.push({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: roleName(scope), namespace, labels: LABELS },
      roleRef,
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: groupFor(namespace, scope) }],
    });
  }
  return docs;
}

type TokenRequestTarget = Extract<TargetConfig, { kind: 'kubernetes-tokenrequest' }>;

/** namespace → ServiceAccount → scopes granted through it. */
function serviceAccountGrants(policies: readonly PolicyConfig[]): Map<string, Map<string, Set<string>>> {
  const out = new Map<string, Map<string, Set<string>>>();
  for (const p of policies) {
    if (!p.service_account) continue;
    for (const ns of p.namespaces) {
      const accounts = out.get(ns) ?? new Map<string, Set<string>>();
      out.set(ns, accounts);
      const scopes = accounts.get(p.service_account) ?? new Set<string>();
      accounts.set(p.service_account, scopes);
      for (const scope of p.scopes) scopes.add(scope);
    }
  }
  return out;
}

function serviceAccountRbac(config: Config, target: TokenRequestTarget, policies: readonly PolicyConfig[], warnings: string[]): Manifest[] {
  const docs: Manifest[] = [];
  const byNamespace = serviceAccountGrants(policies);
  for (const ns of [...byNamespace.keys()].sort()) {
    const accounts = byNamespace.get(ns)!;
    const roles = new Set<string>();
    for (const sa of [...accounts.keys()].sort()) {
      const scopes = [...accounts.get(sa)!].sort();
      const sharing = policies.filter((p) => p.service_account === sa && p.namespaces.includes(ns));
      if (sharing.some((p) => p.scopes.length !== scopes.length)) {
        warnings.push(`target ${target.name}: ServiceAccount ${ns}/${sa} carries every scope its policies grant (${scopes.join(', ')}); a TokenRequest token cannot be narrowed per request — give each scope set its own ServiceAccount`);
      }
      docs.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: ns, labels: LABELS } });
      for (const scope of scopes) {
        const { role, roleRef } = roleFor(config, ns, scope);
        if (role && !roles.has(scope)) {
          roles.add(scope);
          docs.push(role);
        }
        docs.push({
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: `${roleName(scope)}:${sa}`, namespace: ns, labels: LABELS },
          roleRef,
          subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
        });
      }
    }
  }
  return docs;
}

function brokerAccess(target: TokenRequestTarget, policies: readonly PolicyConfig[], options: RenderOptions): Manifest[] {
  const broker = { kind: 'ServiceAccount', name: options.brokerServiceAccount, namespace: options.brokerNamespace };
  const docs: Manifest[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: options.brokerNamespace, labels: LABELS } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: broker.name, namespace: broker.namespace, labels: LABELS } },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/service-account-token',
      metadata: { name: `${broker.name}-token`, namespace: broker.namespace, labels: LABELS, annotations: { 'kubernetes.io/service-account.name': broker.name, 'argo-sts.io/target': target.name } },
    },
  ];
  const byNamespace = serviceAccountGrants(policies);
  for (const ns of [...byNamespace.keys()].sort()) {
    docs.push({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: TOKEN_REQUESTER_ROLE, namespace: ns, labels: LABELS },
      rules: [{ apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'], resourceNames: [...byNamespace.get(ns)!.keys()].sort() }],
    }, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: TOKEN_REQUESTER_ROLE, namespace: ns, labels: LABELS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: TOKEN_REQUESTER_ROLE },
      subjects: [broker],
    });
  }
  return docs;
}
