/**
 * What the stack tests share: where the stack listens (.stack/stack.json), the commands an
 * operator types (kubectl, argo, argo-sts) run against it, Keycloak's real grants, and the
 * loopback CI issuer's signer. Tokens go through files (mode 0600) or stdin, never argv or logs.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { importJWK, type JWK, SignJWT } from 'jose';
import { ROOT, STACK_EXTRA_JSON, STACK_JSON, TARGETS } from './stack.ts';

export { ROOT as ROOT_DIR, TARGETS } from './stack.ts';

export interface StackInfo {
  kube: { server: string; ca_file: string; admin_kubeconfig: string };
  argo: { server: string; ca_file: string };
  keycloak: { url: string; realm: string; admin_user: string; admin_password: string };
  broker: { url: string; ca_file: string; config_file: string };
}

export interface StackExtra {
  ports: Record<string, number>;
  ci_idp: { issuer: string; private_jwk_file: string; jwks_file: string };
  broker: { signing_keys_file: string; audit_db: string; log: string };
  /** authentication_config: the file kube-apiserver runs (--authentication-config), first a copy of the rendered one. */
  kube: { audit_log: string; log: string; rendered: string; authentication_config: string };
  bin: string;
  versions: Record<string, string>;
}

export const stack = JSON.parse(readFileSync(STACK_JSON, 'utf8')) as StackInfo;
export const extra = JSON.parse(readFileSync(STACK_EXTRA_JSON, 'utf8')) as StackExtra;

const scratch = mkdtempSync(join(tmpdir(), 'argo-sts-stack-'));
let counter = 0;

/** A private file (0600) in this run's scratch folder. */
export function secretFile(content: string, name = 'token'): string {
  const path = join(scratch, `${name}-${++counter}`);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

export function removeScratch(): void {
  rmSync(scratch, { recursive: true, force: true });
}

export interface Run { code: number; stdout: string; stderr: string }

export function run(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** The argo-sts CLI as installed in this clone, trusting the run's CA for the broker. */
export function argoSts(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return run(process.execPath, ['--disable-warning=ExperimentalWarning', join(ROOT, 'cli/argo-sts.ts'), ...args], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: stack.broker.ca_file, XDG_CACHE_HOME: join(scratch, 'cache'), ...env },
  });
}

export function kubectl(kubeconfig: string, args: readonly string[]): Promise<Run> {
  return run(join(extra.bin, 'kubectl'), ['--kubeconfig', kubeconfig, ...args]);
}

export function adminKubectl(args: readonly string[]): Promise<Run> {
  return kubectl(stack.kube.admin_kubeconfig, args);
}

/** The real argo CLI with the variables `argo-sts exchange --format env` wrote, trusting the run's CA. */
export function argo(env: Record<string, string>, args: readonly string[]): Promise<Run> {
  return run(join(extra.bin, 'argo'), args, { env: { PATH: process.env.PATH, HOME: scratch, SSL_CERT_FILE: stack.argo.ca_file, ...env } });
}

/** Parses `KEY="value"` lines as `argo-sts exchange --format env` prints them. */
export function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)="((?:[^"\\]|\\.)*)"$/.exec(line);
    if (m) out[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
  }
  return out;
}

/**
 * A kubeconfig whose user is `argo-sts kubectl credential` as kubectl's exec plugin, reading the
 * subject token from a file; the plugin's cache goes to a folder of its own.
 */
export function execKubeconfig(options: { tokenFile: string; audience?: string; namespace: string; scopes?: readonly string[]; actorTokenFile?: string }): string {
  const args = ['--disable-warning=ExperimentalWarning', join(ROOT, 'cli/argo-sts.ts'), 'kubectl', 'credential', '--broker', stack.broker.url,
    '--audience', options.audience ?? TARGETS.oidc, '--namespace', options.namespace, '--token-file', options.tokenFile, '--token-type', 'access_token'];
  for (const s of options.scopes ?? []) args.push('--scope', s);
  if (options.actorTokenFile) args.push('--actor-token-file', options.actorTokenFile);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'stack', cluster: { server: stack.kube.server, 'certificate-authority': stack.kube.ca_file } }],
    users: [{
      name: 'argo-sts',
      user: {
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1', interactiveMode: 'Never', command: process.execPath, args,
          env: [{ name: 'NODE_EXTRA_CA_CERTS', value: stack.broker.ca_file }, { name: 'XDG_CACHE_HOME', value: join(scratch, `exec-cache-${++counter}`) }],
        },
      },
    }],
    contexts: [{ name: 'stack', context: { cluster: 'stack', user: 'argo-sts', namespace: options.namespace } }],
    'current-context': 'stack',
  };
  return secretFile(JSON.stringify(config), 'kubeconfig');
}

/** A kubeconfig presenting a bearer token (from a file, as kubectl's tokenFile). */
export function tokenKubeconfig(token: string): string {
  const tokenFile = secretFile(token);
  return secretFile(JSON.stringify({
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'stack', cluster: { server: stack.kube.server, 'certificate-authority': stack.kube.ca_file } }],
    users: [{ name: 'bearer', user: { tokenFile } }],
    contexts: [{ name: 'stack', context: { cluster: 'stack', user: 'bearer' } }],
    'current-context': 'stack',
  }), 'kubeconfig');
}

/** As whoami prints it: empty fields are left out (an empty username too). */
export interface WhoAmI { username?: string; groups: string[]; uid?: string; extra?: Record<string, string[]> }

export async function whoami(kubeconfig: string): Promise<{ run: Run; user?: WhoAmI }> {
  const r = await kubectl(kubeconfig, ['auth', 'whoami', '-o', 'json']);
  if (r.code !== 0) return { run: r };
  return { run: r, user: (JSON.parse(r.stdout) as { status: { userInfo: WhoAmI } }).status.userInfo };
}

/** `kubectl auth can-i VERB RESOURCE -n NS` as that kubeconfig's user: "yes" or "no". */
export async function canI(kubeconfig: string, verb: string, resource: string, namespace: string): Promise<string> {
  const r = await kubectl(kubeconfig, ['auth', 'can-i', verb, resource, '-n', namespace]);
  return r.stdout.trim() || `error: ${r.stderr.trim()}`;
}

/** Retries `attempt` until it passes or `timeoutMs` is over (kube-apiserver fetches the issuer's keys asynchronously). */
export async function eventually<T>(attempt: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000, stepMs = 1000): Promise<T> {
  const started = Date.now();
  let last = await attempt();
  while (!ok(last) && Date.now() - started < timeoutMs) {
    await new Promise((r) => setTimeout(r, stepMs));
    last = await attempt();
  }
  return last;
}

// --- Keycloak (real grants) --------------------------------------------------------------------

const realmUrl = `${stack.keycloak.url}/realms/${stack.keycloak.realm}`;
export const keycloakIssuer = realmUrl;

async function form(url: string, params: Record<string, string>): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method: 'POST', body: new URLSearchParams(params) });
  const body = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${url}: ${res.status} ${String(body.error)}: ${String(body.error_description)}`);
  return body;
}

async function adminToken(): Promise<string> {
  const body = await form(`${stack.keycloak.url}/realms/master/protocol/openid-connect/token`, {
    grant_type: 'password', client_id: 'admin-cli', username: stack.keycloak.admin_user, password: stack.keycloak.admin_password,
  });
  return body.access_token as string;
}

async function admin(path: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(`${stack.keycloak.url}/admin/realms/${stack.keycloak.realm}${path}`, {
    ...init, headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
  if (!res.ok) throw new Error(`Keycloak admin ${path}: ${res.status}`);
  return res;
}

const passwords = new Map<string, string>();

/** Sets a fresh password for a realm user (once per run) and returns it. */
export async function userPassword(username: string): Promise<string> {
  const known = passwords.get(username);
  if (known) return known;
  const [user] = (await (await admin(`/users?username=${encodeURIComponent(username)}&exact=true`)).json()) as { id: string }[];
  const password = `pw-${crypto.randomUUID()}`;
  await admin(`/users/${user!.id}/reset-password`, { method: 'PUT', body: JSON.stringify({ type: 'password', value: password, temporary: false }) });
  passwords.set(username, password);
  return password;
}

export interface KeycloakTokens { access_token: string; id_token?: string }

/** Resource-owner password grant of a realm user at a realm client (the stack realm enables it for tests). */
export async function passwordGrant(clientId: string, username: string): Promise<KeycloakTokens> {
  return (await form(`${realmUrl}/protocol/openid-connect/token`, {
    grant_type: 'password', client_id: clientId, username, password: await userPassword(username), scope: 'openid',
  })) as unknown as KeycloakTokens;
}

/** The agent's own token: client-credentials grant with its client secret, read through the admin API. */
export async function clientCredentialsGrant(clientId: string): Promise<KeycloakTokens> {
  const [client] = (await (await admin(`/clients?clientId=${encodeURIComponent(clientId)}`)).json()) as { id: string }[];
  const { value: secret } = (await (await admin(`/clients/${client!.id}/client-secret`)).json()) as { value: string };
  return (await form(`${realmUrl}/protocol/openid-connect/token`, { grant_type: 'client_credentials', client_id: clientId, client_secret: secret })) as unknown as KeycloakTokens;
}

export async function clientSecret(clientId: string): Promise<string> {
  const [client] = (await (await admin(`/clients?clientId=${encodeURIComponent(clientId)}`)).json()) as { id: string }[];
  return ((await (await admin(`/clients/${client!.id}/client-secret`)).json()) as { value: string }).value;
}

export function claimsOf(jwt: string): Record<string, any> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, any>;
}

// --- the loopback GitHub-shaped CI issuer ------------------------------------------------------

/** A GitHub Actions ID token (claims shaped as GitHub's) signed by the stack's CI issuer. */
export async function ciToken(overrides: Record<string, unknown> = {}): Promise<string> {
  const jwk = JSON.parse(readFileSync(extra.ci_idp.private_jwk_file, 'utf8')) as JWK;
  const now = Math.floor(Date.now() / 1000);
  const repository = (overrides.repository as string | undefined) ?? 'acme/app';
  const claims = {
    jti: crypto.randomUUID(), sub: `repo:${repository}:ref:refs/heads/main`, aud: 'argo-sts', ref: 'refs/heads/main', sha: 'a'.repeat(40),
    repository, repository_owner: repository.split('/')[0], repository_owner_id: '1000', repository_id: '2000', repository_visibility: 'private',
    run_id: '7000', run_number: '12', run_attempt: '1', actor: 'octocat', actor_id: '3000', workflow: 'deploy', event_name: 'push',
    ref_type: 'branch', workflow_ref: `${repository}/.github/workflows/deploy.yml@refs/heads/main`, job_workflow_ref: `${repository}/.github/workflows/deploy.yml@refs/heads/main`,
    runner_environment: 'github-hosted', iss: extra.ci_idp.issuer, nbf: now - 5, iat: now - 5, exp: now + 300,
    ...overrides,
  };
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: jwk.kid!, typ: 'JWT' }).sign(await importJWK(jwk, 'RS256'));
}

// --- the broker's audit trail ------------------------------------------------------------------

export function auditEvents(): Record<string, unknown>[] {
  const db = new DatabaseSync(extra.broker.audit_db, { readOnly: true });
  try {
    return db.prepare('SELECT * FROM audit_events ORDER BY id').all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

/** The kube-apiserver audit events (JSON lines) that match `pick`. */
export function kubeAuditEvents(pick: (event: Record<string, any>) => boolean): Record<string, any>[] {
  return readFileSync(extra.kube.audit_log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>).filter(pick);
}
