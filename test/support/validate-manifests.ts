/**
 * Validation of rendered manifests.
 *
 * - Served API kinds (Namespace, ServiceAccount, Secret, Role, RoleBinding, Deployment) are
 *   validated by `kubernetes-models`, whose validators are generated from the Kubernetes
 *   OpenAPI schemas. The Argo Server patch is merged (strategic merge on containers by name)
 *   into the shape of Argo's own argo-server Deployment and the result validated.
 * - AuthenticationConfiguration (apiserver.config.k8s.io) is a kube-apiserver config file, not a
 *   served API, so no OpenAPI schema exists for it: it is checked by hand against the Go types
 *   (k8s.io/apiserver/pkg/apis/apiserver/{v1,v1beta1}) and the rules of ValidateAuthenticationConfiguration:
 *   strict fields, https issuer without query/fragment/user info, non-empty unique audiences,
 *   audienceMatchPolicy MatchAny when there are several, exactly one of claim/expression in each
 *   mapping and validation rule, a prefix whenever a claim is mapped, a message with CEL rules.
 */
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';

type Doc = Record<string, any>;

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/Secret': Secret,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

/** Argo's install manifest's argo-server Deployment, as far as validation needs it. */
function upstreamArgoServer(namespace: string): Doc {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'argo-server', namespace },
    spec: {
      selector: { matchLabels: { app: 'argo-server' } },
      template: {
        metadata: { labels: { app: 'argo-server' } },
        spec: {
          serviceAccountName: 'argo-server',
          containers: [{ name: 'argo-server', image: 'quay.io/argoproj/argocli:v4.1.2', args: ['server'], ports: [{ name: 'web', containerPort: 2746 }] }],
        },
      },
    },
  };
}

/** Strategic merge of a Deployment patch: maps merge, `containers` merge by name, other lists replace. */
function strategicMerge(base: unknown, patch: unknown, key?: string): unknown {
  if (Array.isArray(patch)) {
    if (key !== 'containers' || !Array.isArray(base)) return patch;
    const out: Doc[] = (base as Doc[]).map((c) => {
      const p = (patch as Doc[]).find((x) => x.name === c.name);
      return p ? (strategicMerge(c, p) as Doc) : c;
    });
    for (const p of patch as Doc[]) if (!out.some((c) => c.name === p.name)) out.push(p);
    return out;
  }
  if (patch && typeof patch === 'object') {
    const out: Doc = { ...(base && typeof base === 'object' ? (base as Doc) : {}) };
    for (const [k, v] of Object.entries(patch as Doc)) out[k] = strategicMerge(out[k], v, k);
    return out;
  }
  return patch;
}

export function mergeArgoServerPatch(patch: Doc): Doc {
  return strategicMerge(upstreamArgoServer(patch.metadata.namespace), patch) as Doc;
}

/** Problems with one rendered document; empty when valid. */
export function validateManifest(doc: Doc): string[] {
  const id = `${doc.apiVersion}/${doc.kind}`;
  if (doc.kind === 'AuthenticationConfiguration') return validateAuthenticationConfiguration(doc);
  const Model = MODELS[id];
  if (!Model) return [`${id}: no schema to validate against`];
  const subject = id === 'apps/v1/Deployment' ? mergeArgoServerPatch(doc) : doc;
  try {
    new Model(subject).validate();
    return [];
  } catch (err) {
    return [`${id} ${doc.metadata?.namespace ?? ''}/${doc.metadata?.name ?? ''}: ${(err as Error).message}`];
  }
}

function strict(obj: Doc, allowed: string[], at: string, problems: string[]) {
  for (const key of Object.keys(obj)) if (!allowed.includes(key)) problems.push(`${at}.${key}: unknown field`);
}

function oneOf(obj: Doc | undefined, a: string, b: string, at: string, problems: string[]) {
  if (!obj) return;
  const has = [a, b].filter((k) => obj[k] !== undefined && obj[k] !== '');
  if (has.length !== 1) problems.push(`${at}: exactly one of ${a} or ${b} must be set`);
}

export function validateAuthenticationConfiguration(doc: Doc): string[] {
  const problems: string[] = [];
  if (!['apiserver.config.k8s.io/v1', 'apiserver.config.k8s.io/v1beta1'].includes(doc.apiVersion)) problems.push(`apiVersion: ${doc.apiVersion} is not v1 or v1beta1`);
  strict(doc, ['apiVersion', 'kind', 'jwt', 'anonymous'], '', problems);
  if (!Array.isArray(doc.jwt) || doc.jwt.length === 0) return [...problems, 'jwt: at least one issuer'];
  const urls = new Set<string>();
  doc.jwt.forEach((jwt: Doc, i: number) => {
    const at = `jwt[${i}]`;
    strict(jwt, ['issuer', 'claimValidationRules', 'claimMappings', 'userValidationRules'], at, problems);
    const issuer = jwt.issuer ?? {};
    strict(issuer, ['url', 'discoveryURL', 'certificateAuthority', 'audiences', 'audienceMatchPolicy', 'egressSelectorType'], `${at}.issuer`, problems);
    let url: URL | undefined;
    try {
      url = new URL(issuer.url);
    } catch {
      problems.push(`${at}.issuer.url: required, an absolute URL`);
    }
    if (url && (url.protocol !== 'https:' || url.search || url.hash || url.username || url.password)) {
      problems.push(`${at}.issuer.url: must be https without query, fragment or user info`);
    }
    if (urls.has(issuer.url)) problems.push(`${at}.issuer.url: duplicate issuer`);
    urls.add(issuer.url);
    const audiences: unknown[] = Array.isArray(issuer.audiences) ? issuer.audiences : [];
    if (audiences.length === 0 || audiences.some((a) => typeof a !== 'string' || a === '')) problems.push(`${at}.issuer.audiences: at least one non-empty audience`);
    if (new Set(audiences).size !== audiences.length) problems.push(`${at}.issuer.audiences: duplicate audience`);
    if (audiences.length > 1 && issuer.audienceMatchPolicy !== 'MatchAny') problems.push(`${at}.issuer.audienceMatchPolicy: MatchAny is required with several audiences`);
    if (issuer.audienceMatchPolicy !== undefined && issuer.audienceMatchPolicy !== 'MatchAny') problems.push(`${at}.issuer.audienceMatchPolicy: only MatchAny is supported`);
    (jwt.claimValidationRules ?? []).forEach((rule: Doc, j: number) => {
      const where = `${at}.claimValidationRules[${j}]`;
      strict(rule, ['claim', 'requiredValue', 'expression', 'message'], where, problems);
      oneOf(rule, 'claim', 'expression', where, problems);
      if (rule.expression !== undefined && (typeof rule.message !== 'string' || rule.message === '')) problems.push(`${where}.message: required with expression`);
    });
    const mappings = jwt.claimMappings;
    if (!mappings?.username) problems.push(`${at}.claimMappings.username: required`);
    strict(mappings ?? {}, ['username', 'groups', 'uid', 'extra'], `${at}.claimMappings`, problems);
    for (const name of ['username', 'groups'] as const) {
      const mapping = mappings?.[name];
      if (!mapping) continue;
      const where = `${at}.claimMappings.${name}`;
      strict(mapping, ['claim', 'prefix', 'expression'], where, problems);
      oneOf(mapping, 'claim', 'expression', where, problems);
      if (mapping.claim !== undefined && typeof mapping.prefix !== 'string') problems.push(`${where}.prefix: required when claim is set (may be "")`);
      if (mapping.expression !== undefined && mapping.prefix !== undefined) problems.push(`${where}.prefix: not allowed with expression`);
    }
  });
  return problems;
}
