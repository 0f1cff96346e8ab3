/**
 * The built-in scopes and what they mean in the cluster. A minted token carries the group
 * `argo-sts:<namespace>:<scope>` for each granted scope; `argo-sts render` binds those groups
 * to Roles with exactly these rules (`k8s:view` and `k8s:edit` bind Kubernetes' own ClusterRoles).
 */
import type { ScopeDefinition } from '../config/schema.ts';

const ARGO = 'argoproj.io';
const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'update', 'patch', 'delete'];
/** Namespaced Argo resources a person or pipeline reads (ClusterWorkflowTemplates are cluster-scoped: not in a Role). */
const ARGO_RESOURCES = [
  'workflows', 'workflowtemplates', 'cronworkflows', 'workfloweventbindings', 'workflowtaskresults',
];

const argoRead = [
  { apiGroups: [ARGO], resources: ARGO_RESOURCES, verbs: READ },
  { apiGroups: [''], resources: ['pods', 'pods/log'], verbs: READ },
  // Argo UI's Events tab watches the namespace's core events.
  { apiGroups: [''], resources: ['events'], verbs: READ },
];
/** Submitting, also from a template or cron workflow, creates a Workflow (Argo Server reads the template as the caller). */
const argoSubmit = [
  ...argoRead,
  { apiGroups: [ARGO], resources: ['workflows'], verbs: ['create'] },
];
/**
 * retry, resubmit, stop, terminate, suspend and resume update or patch the Workflow; retry also
 * deletes the failed nodes' pods (Argo Server does it with the caller's credentials).
 */
const argoManage = [
  ...argoRead,
  { apiGroups: [ARGO], resources: ['workflows', 'workflowtemplates', 'cronworkflows', 'workfloweventbindings'], verbs: WRITE },
  { apiGroups: [''], resources: ['pods'], verbs: ['delete'] },
];

export const BUILT_IN_SCOPES: Readonly<Record<string, ScopeDefinition & { clusterRole?: string }>> = {
  'argo:read': { description: 'read workflows, templates, cron workflows, event bindings, pods, logs and events', rules: argoRead },
  'argo:submit': { description: 'argo:read plus creating workflows and submitting from templates', rules: argoSubmit },
  'argo:manage': { description: 'argo:submit plus retry, resubmit, stop, terminate, suspend, resume; edit templates and cron workflows', rules: argoManage },
  'k8s:view': { description: "Kubernetes' built-in view role", rules: [], clusterRole: 'view' },
  'k8s:edit': { description: "Kubernetes' built-in edit role", rules: [], clusterRole: 'edit' },
};

/** The Kubernetes group a minted token carries for one granted scope in one namespace. */
export function groupFor(namespace: string, scope: string): string {
  return `argo-sts:${namespace}:${scope}`;
}
