/**
 * A credential in the shapes its consumers read: the raw token, JSON, shell/dotenv variables for
 * the Argo CLI, a kubeconfig, and a client.authentication.k8s.io/v1 ExecCredential for kubectl.
 */
import type { Credential } from '../../client/index.ts';

export const FORMATS = ['token', 'json', 'env', 'kubeconfig', 'exec-credential'] as const;
export type Format = (typeof FORMATS)[number];

export interface RenderContext {
  /** The Argo Server URL of the target (https://argo.example.com[:port][/base]). */
  readonly argoServer?: string | undefined;
  /** The Kubernetes API server, for kubeconfig. */
  readonly server?: string | undefined;
  /** Base64 PEM for kubeconfig's certificate-authority-data. */
  readonly certificateAuthorityData?: string | undefined;
  /** The target name, used to name kubeconfig entries. */
  readonly target: string;
}

/** A value in double quotes for sh `eval`/`.`, docker --env-file and dotenv. */
function quoted(value: string): string {
  return `"${value.replace(/[\\"$`]/g, (c) => `\\${c}`)}"`;
}

/**
 * The Argo CLI's variables for a server URL, as Argo's own UI prints them ("Using your login"):
 * ARGO_SERVER is host:port (no scheme), ARGO_SECURE says TLS, ARGO_BASE_HREF carries a path with no
 * trailing slash (the CLI appends "/api/v1/…" to it, so "/argo/" would call "/argo//api/v1/…"), and
 * ARGO_HTTP1 makes the CLI use plain HTTP/1 REST, which passes every ingress and proxy.
 * ARGO_TOKEN is sent verbatim, so it holds "Bearer ".
 */
export function argoServerVariables(argoServer: string): Record<string, string> {
  const url = new URL(argoServer);
  const secure = url.protocol === 'https:';
  const port = url.port || (secure ? '443' : '80');
  const vars: Record<string, string> = { ARGO_SERVER: `${url.hostname}:${port}`, ARGO_SECURE: String(secure), ARGO_HTTP1: 'true' };
  const path = url.pathname.replace(/\/+$/, '');
  if (path !== '') vars.ARGO_BASE_HREF = path;
  return vars;
}

export function envVariables(credential: Credential, ctx: RenderContext): Record<string, string> {
  return {
    ARGO_TOKEN: `Bearer ${credential.accessToken}`,
    ...(ctx.argoServer ? argoServerVariables(ctx.argoServer) : {}),
    ARGO_NAMESPACE: credential.namespace,
  };
}

export function execCredential(credential: Credential): Record<string, unknown> {
  return {
    apiVersion: 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    status: { token: credential.accessToken, expirationTimestamp: new Date(credential.expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z') },
  };
}

function kubeconfig(credential: Credential, ctx: RenderContext): string {
  const name = `argo-sts-${ctx.target}`;
  const cluster: string[] = [`    server: ${JSON.stringify(ctx.server)}`];
  if (ctx.certificateAuthorityData) cluster.push(`    certificate-authority-data: ${ctx.certificateAuthorityData}`);
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${name}`,
    '  cluster:',
    ...cluster,
    'users:',
    `- name: ${name}`,
    '  user:',
    `    token: ${credential.accessToken}`,
    'contexts:',
    `- name: ${name}`,
    '  context:',
    `    cluster: ${name}`,
    `    user: ${name}`,
    `    namespace: ${credential.namespace}`,
    `current-context: ${name}`,
    '',
  ].join('\n');
}

export function renderCredential(format: Format, credential: Credential, ctx: RenderContext): string {
  switch (format) {
    case 'token':
      return `${credential.accessToken}\n`;
    case 'json':
      return `${JSON.stringify({
        access_token: credential.accessToken,
        token_type: credential.tokenType,
        issued_token_type: credential.issuedTokenType,
        expires_in: credential.expiresIn,
        expires_at: new Date(credential.expiresAt).toISOString(),
        scope: credential.scopes.join(' '),
        namespace: credential.namespace,
        ...(ctx.argoServer ? { argo_server: ctx.argoServer } : {}),
      }, null, 2)}\n`;
    case 'env':
      return Object.entries(envVariables(credential, ctx)).map(([k, v]) => `${k}=${quoted(v)}\n`).join('');
    case 'kubeconfig':
      return kubeconfig(credential, ctx);
    case 'exec-credential':
      return `${JSON.stringify(execCredential(credential))}\n`;
  }
}
