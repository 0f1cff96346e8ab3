/**
 * "Authenticated but forbidden" told apart from "not authenticated": SubjectAccessReviews
 * (authorization.k8s.io/v1) for the user a diagnosis mapped, asked of the real cluster. The
 * operations are those of each built-in `argo:*` scope (shared/scopes.ts, the rules `argo-sts
 * render` binds) in a namespace, plus any verb/resource the caller names. Building the reviews and
 * reading the answers is pure; the POST goes through an injected function (the CLI's kubeconfig
 * client), so this runs wherever the diagnosis does.
 */
import { BUILT_IN_SCOPES } from '../policy/scopes.ts';
import { clusterHint } from './cluster-catalogue.ts';
import type { ClusterCheck, KubeUser } from './cluster-diagnosis.ts';

export interface ResourceOperation {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string | undefined;
  readonly namespace: string;
}

export interface OperationOutcome {
  readonly operation: string;
  readonly allowed: boolean;
  readonly reason?: string;
}

export interface ScopeOutcome {
  readonly scope: string;
  readonly namespace: string;
  readonly allowed: number;
  readonly total: number;
  readonly denied: readonly string[];
}

/** POSTs a SubjectAccessReview and returns the cluster's answer (its JSON body). */
export type ReviewPoster = (body: unknown) => Promise<{ status: number; body: unknown }>;

/** `create workflows.argoproj.io in ci`, `get pods/log in ci`. */
export function describeOperation(op: ResourceOperation): string {
  const resource = `${op.resource}${op.group ? `.${op.group}` : ''}${op.subresource ? `/${op.subresource}` : ''}`;
  return `${op.verb} ${resource}${op.namespace ? ` in ${op.namespace}` : ''}`;
}

/** Parses `--resource`: `workflows.argoproj.io`, `pods/log`, `deployments.apps/scale`. */
export function parseResource(value: string, verb: string, namespace: string): ResourceOperation {
  const [head, subresource] = value.split('/', 2) as [string, string | undefined];
  const dot = head.indexOf('.');
  return { verb, resource: dot < 0 ? head : head.slice(0, dot), group: dot < 0 ? '' : head.slice(dot + 1), subresource, namespace };
}

/** Every (verb, resource) a built-in `argo:*` scope grants, in one namespace. */
export function argoScopeOperations(scope: string, namespace: string): ResourceOperation[] {
  const definition = BUILT_IN_SCOPES[scope];
  if (!definition) return [];
  const seen = new Set<string>();
  const out: ResourceOperation[] = [];
  for (const rule of definition.rules) {
    for (const group of rule.apiGroups) for (const full of rule.resources) for (const verb of rule.verbs) {
      const [resource, subresource] = full.split('/', 2) as [string, string | undefined];
      const op = { verb, group, resource, subresource, namespace };
      const key = describeOperation(op);
      if (!seen.has(key)) out.push(op), seen.add(key);
    }
  }
  return out;
}

export const ARGO_SCOPES = Object.keys(BUILT_IN_SCOPES).filter((s) => s.startsWith('argo:'));

/** Namespaces a user's argo-sts groups name (`argo-sts:<namespace>:<scope>`, any prefix before it). */
export function namespacesFromGroups(groups: readonly string[]): string[] {
  const found = new Set<string>();
  for (const g of groups) {
    const m = /(?:^|:)argo-sts:([a-z0-9]([-a-z0-9]*[a-z0-9])?):[a-z0-9]+:[a-z0-9-]+$/.exec(g);
    if (m) found.add(m[1]!);
  }
  return [...found].sort();
}

export function subjectAccessReview(user: KubeUser, op: ResourceOperation): unknown {
  return {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user: user.username,
      groups: [...user.groups],
      ...(user.uid ? { uid: user.uid } : {}),
      ...(Object.keys(user.extra).length ? { extra: user.extra } : {}),
      resourceAttributes: {
        verb: op.verb, group: op.group, resource: op.resource,
        ...(op.subresource ? { subresource: op.subresource } : {}),
        ...(op.namespace ? { namespace: op.namespace } : {}),
      },
    },
  };
}

/** Reviews each operation; a transport or API error throws with the cluster's message. */
export async function reviewOperations(post: ReviewPoster, user: KubeUser, ops: readonly ResourceOperation[]): Promise<OperationOutcome[]> {
  const out: OperationOutcome[] = [];
  for (const op of ops) {
    const answer = await post(subjectAccessReview(user, op));
    const body = answer.body as { status?: { allowed?: unknown; denied?: unknown; reason?: unknown }; message?: unknown } | null;
    if (answer.status !== 201 && answer.status !== 200) {
      throw new Error(`SubjectAccessReview answered ${answer.status}${typeof body?.message === 'string' ? `: ${body.message}` : ''}`);
    }
    const allowed = body?.status?.allowed === true && body.status.denied !== true;
    const reason = typeof body?.status?.reason === 'string' && body.status.reason ? body.status.reason : undefined;
    out.push({ operation: describeOperation(op), allowed, ...(reason ? { reason } : {}) });
  }
  return out;
}

export interface AuthorizationInput {
  readonly user: KubeUser | null;
  readonly namespaces: readonly string[];
  /** The operation named on the command line, if any. */
  readonly requested?: ResourceOperation | undefined;
  readonly post: ReviewPoster;
}

/** The `authorization` check: what the mapped user may do, per argo:* scope and for the requested operation. */
export async function checkAuthorization(input: AuthorizationInput): Promise<ClusterCheck & { scopes?: ScopeOutcome[]; requested?: OperationOutcome }> {
  if (!input.user) return { check: 'authorization', status: 'skip', message: 'not authenticated: the cluster answers 401 before RBAC is asked' };
  const user = input.user;
  try {
    const scopes: ScopeOutcome[] = [];
    for (const namespace of input.namespaces) {
      for (const scope of ARGO_SCOPES) {
        const outcomes = await reviewOperations(input.post, user, argoScopeOperations(scope, namespace));
        scopes.push({ scope, namespace, allowed: outcomes.filter((o) => o.allowed).length, total: outcomes.length, denied: outcomes.filter((o) => !o.allowed).map((o) => o.operation) });
      }
    }
    const requested = input.requested ? (await reviewOperations(input.post, user, [input.requested]))[0] : undefined;
    const granted = scopes.filter((s) => s.allowed === s.total).map((s) => `${s.scope} in ${s.namespace}`);
    const summary = scopes.map((s) => `${s.scope} in ${s.namespace}: ${s.allowed}/${s.total}`).join('; ');
    const requestedText = requested ? `${requested.operation}: ${requested.allowed ? 'allowed' : 'forbidden'}${requested.reason ? ` (${requested.reason})` : ''}` : '';
    const message = [requestedText, summary ? `argo scopes — ${summary}` : '', granted.length ? `fully granted: ${granted.join(', ')}` : 'no argo:* scope is fully granted'].filter(Boolean).join('; ');
    const ok = requested ? requested.allowed : granted.length > 0;
    const result = { scopes, ...(requested ? { requested } : {}) };
    if (ok) return { check: 'authorization', status: 'pass', message, ...result };
    const detail = requested && !requested.allowed ? requested.operation : `no argo:* scope in ${input.namespaces.join(', ')}`;
    return { check: 'authorization', status: 'fail', message, hint: clusterHint('cluster.authorization.forbidden', { detail }), cause: 'cluster.authorization.forbidden', ...result };
  } catch (err) {
    const detail = err instanceof Error ? err.message : 'failed';
    return { check: 'authorization', status: 'fail', message: `the cluster could not be asked: ${detail}`, hint: clusterHint('cluster.authorization.unavailable', { detail }), cause: 'cluster.authorization.unavailable' };
  }
}
