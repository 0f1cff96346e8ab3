/**
 * `argo-sts diagnose --cluster AUTHN_CONFIG [TOKEN|-] [--kubeconfig FILE] [--json]`: would this
 * cluster's kube-apiserver authenticate the token, as whom, and (with --kubeconfig) may that user
 * do the Argo operations of each argo:* scope? The diagnosis is shared/cluster's; this file reads
 * the files, wires the fetches (the authenticator's certificateAuthority, like the apiserver) and
 * prints. The token is never printed.
 *
 * For a stack test: `argo-sts diagnose --cluster FILE - --json` exits 0 exactly when
 * `kubectl auth whoami` with that token succeeds, and `.user.username` / `.user.groups` are what
 * whoami prints.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { checkAuthorization, namespacesFromGroups, parseResource, type ResourceOperation } from '../../shared/cluster/access-review.ts';
import { parseAuthenticationConfig } from '../../shared/cluster/authentication-config.ts';
import { AuthenticationConfigError, type AuthenticationConfig } from '../../shared/cluster/kube-authn-model.ts';
import { diagnoseClusterToken } from '../../shared/cluster/diagnose-cluster.ts';
import { type ClusterCheck, type ClusterDiagnosis } from '../../shared/cluster/cluster-diagnosis.ts';
import { KubeconfigError, reviewPosterFromKubeconfig } from '../cluster/kubeconfig-client.ts';
import { nodeFetchFor } from '../cluster/node-fetch-for.ts';
import { type CliIo, EXIT, UsageError } from '../command.ts';

export const CLUSTER_HELP = `Cluster mode: --cluster AUTHN_CONFIG [--kubeconfig FILE [--context NAME]] [--namespace NS] [--verb V --resource R]
  Evaluates the token the way kube-apiserver's JWT authenticators would, for an AuthenticationConfiguration
  (apiserver.config.k8s.io/v1 or v1beta1) or a file of legacy --oidc-* flags: issuer, discovery (discoveryURL,
  certificateAuthority), signature, audience (MatchAny), expiry (no leeway), not_before (60 s),
  claim_validation, claim_mapping (username, groups, uid, extra with prefixes), user_validation. Prints each
  check with its numbers and fix, and the user the apiserver would see. Exit 0 authenticated, 1 refused.
  --kubeconfig FILE  also ask that cluster (SubjectAccessReview) what the user may do: each argo:* scope in
                     --namespace (default: the namespaces its argo-sts groups name, else "default"), and
                     --verb/--resource (e.g. --verb create --resource workflows.argoproj.io)
  --json             {"verdict": "authenticated"|"refused", "authenticator", "user", "checks": [...]}`;

/** The transcript README, docs/troubleshooting.md and --help show; test/app/diagnose-cluster-cli.test.ts replays it. */
export const CLUSTER_TRANSCRIPT = `$ cat authentication-config.yaml
apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
  - issuer:
      url: https://login.microsoftonline.com/8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b/v2.0
      audiences: ["3c1d9e8f-7a6b-4c5d-8e9f-0a1b2c3d4e5f"]
    claimMappings:
      username: { claim: oid, prefix: "entra:" }
      groups: { claim: groups, prefix: "entra:" }
$ argo-sts diagnose --cluster authentication-config.yaml - < entra-token.jwt
REFUSED: kube-apiserver would not authenticate this token (401)
  server time 2026-12-01T09:00:00.000Z · v1 config, 1 JWT authenticator

  ✗ issuer            no JWT authenticator has issuer "https://sts.windows.net/8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b/"; "https://login.microsoftonline.com/8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b/v2.0" nearly matches (Entra ID v1 issuer (sts.windows.net) vs v2 (login.microsoftonline.com/{tid}/v2.0)): the apiserver ignores the token and answers 401
                      hint: The token is an Entra v1 token (https://sts.windows.net/8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b/), the cluster expects https://login.microsoftonline.com/8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b/v2.0. The version follows the API app's manifest, not the endpoint the client called: set accessTokenAcceptedVersion: 2 (App registrations → your API → Manifest) to get v2 tokens, or set jwt[].issuer.url to https://sts.windows.net/<tenant>/ (with the slash) for v1 tokens.
  - discovery         no authenticator claims the token
  - signature         no authenticator claims the token
  - audience          no authenticator claims the token
  - expiry            no authenticator claims the token
  - not_before        no authenticator claims the token
  - claim_validation  no authenticator claims the token
  - claim_mapping     no authenticator claims the token
  - user_validation   no authenticator claims the token
$ echo $?
1`;

export interface ClusterFlags {
  readonly cluster: string;
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  readonly namespace?: string | undefined;
  readonly verb?: string | undefined;
  readonly resource?: string | undefined;
  readonly json?: boolean | undefined;
}

export function loadAuthenticationConfig(path: string): AuthenticationConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--cluster ${path}: ${err instanceof Error ? err.message : 'unreadable'}`);
  }
  let config: AuthenticationConfig;
  try {
    config = parseAuthenticationConfig(text);
  } catch (err) {
    if (err instanceof AuthenticationConfigError) throw new UsageError(`--cluster ${path}: ${err.message}`);
    throw err;
  }
  // --oidc-ca-file names a file on the control plane; read it relative to the flags file when it is here.
  const jwt = config.jwt.map((a) => {
    const file = a.issuer.certificateAuthorityFile;
    if (!file || a.issuer.certificateAuthority) return a;
    try {
      return { ...a, issuer: { ...a.issuer, certificateAuthority: readFileSync(resolve(dirname(path), file), 'utf8') } };
    } catch {
      return a;
    }
  });
  return { ...config, jwt };
}

export async function runClusterDiagnosis(flags: ClusterFlags, token: string, io: CliIo): Promise<number> {
  if ((flags.verb === undefined) !== (flags.resource === undefined)) throw new UsageError('--verb and --resource go together');
  if ((flags.verb !== undefined || flags.context !== undefined || flags.namespace !== undefined) && flags.kubeconfig === undefined) {
    throw new UsageError('--verb, --resource, --namespace and --context need --kubeconfig (they say what to ask the cluster)');
  }
  const config = loadAuthenticationConfig(flags.cluster);
  const reviewer = flags.kubeconfig === undefined ? undefined : (() => {
    try {
      return reviewPosterFromKubeconfig(flags.kubeconfig!, flags.context);
    } catch (err) {
      if (err instanceof KubeconfigError) throw new UsageError(err.message);
      throw err;
    }
  })();
  const diagnosis = await diagnoseClusterToken({
    token, config, now: Date.now(), fetchFor: nodeFetchFor,
  });
  let result: ClusterDiagnosis = diagnosis;
  if (reviewer) {
    const namespaces = flags.namespace ? [flags.namespace] : diagnosis.user ? namespacesFromGroups(diagnosis.user.groups) : [];
    const requested: ResourceOperation | undefined = flags.verb && flags.resource ? parseResource(flags.resource, flags.verb, flags.namespace ?? namespaces[0] ?? 'default') : undefined;
    const authorization = await checkAuthorization({ user: diagnosis.user, namespaces: namespaces.length ? namespaces : ['default'], requested, post: reviewer.post });
    result = { ...diagnosis, checks: [...diagnosis.checks, authorization] };
  }
  io.stdout(flags.json ? `${JSON.stringify(result, null, 2)}\n` : renderClusterReport(result));
  return result.verdict === 'authenticated' ? EXIT.ok : EXIT.failed;
}

const MARKS: Record<ClusterCheck['status'], string> = { pass: '✓', fail: '✗', warn: '!', skip: '-' };

/** The report for people: verdict, each check with its numbers and hint, the user. */
export function renderClusterReport(d: ClusterDiagnosis): string {
  const lines: string[] = [];
  lines.push(d.verdict === 'authenticated'
    ? `AUTHENTICATED: kube-apiserver would accept this token (authenticator ${d.authenticator})`
    : `REFUSED: kube-apiserver would not authenticate this token (401${d.authenticator ? `; authenticator ${d.authenticator}` : ''})`);
  const n = d.config.authenticators;
  lines.push(`  server time ${d.server_time} · ${d.config.source === 'flags' ? '--oidc-* flags' : `${d.config.source} config`}, ${n} JWT authenticator${n === 1 ? '' : 's'}`, '');
  const width = Math.max(...d.checks.map((c) => c.check.length));
  const indent = ' '.repeat(width + 6);
  for (const c of d.checks) {
    lines.push(`  ${MARKS[c.status]} ${c.check.padEnd(width)}  ${c.message.replace(/`/g, "")}`);
    if (c.status === 'pass' || c.status === 'skip') continue;
    for (const r of c.rules ?? []) if (r.status !== 'pass') lines.push(`${indent}rule ${r.rule}: ${r.status}${r.message ? ` — ${r.message}` : ''}`);
    if (c.hint) lines.push(`${indent}hint: ${c.hint.replace(/`/g, '')}`);
  }
  const user = d.user ?? d.mapped_user;
  if (user) {
    lines.push('', d.user ? '  the apiserver sees:' : '  the claim mappings give (not authenticated):');
    lines.push(`    username: ${user.username}`, `    groups:   ${user.groups.length ? user.groups.join(', ') : '(none)'}`);
    if (user.uid) lines.push(`    uid:      ${user.uid}`);
    for (const [key, values] of Object.entries(user.extra)) lines.push(`    extra:    ${key}=${values.join(',')}`);
  }
  return `${lines.join('\n')}\n`;
}
