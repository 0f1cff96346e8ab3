/**
 * `argo-sts diagnose --cluster` as a specification: exit 0 when kube-apiserver would authenticate
 * the token, 1 when not, 2 on usage errors; the --json shape of the contract; --kubeconfig asking a
 * loopback API server's SubjectAccessReview endpoint what the mapped user may do; and the
 * transcript that README, docs/troubleshooting.md and --help show, replayed.
 */
import type { TLSSocket } from 'node:tls';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER_TRANSCRIPT } from '../../cli/commands/diagnose-cluster.ts';
import { CLUSTER_CATALOGUE } from '../../shared/cluster/cluster-catalogue.ts';
import { TROUBLESHOOTING_DOC } from '../../scripts/generate-troubleshooting-doc.ts';
import { fixtureClaims } from '../support/loopback-idp.ts';
import { type HttpsIssuer, loopbackCertificate, oneIssuerConfig, startHttpsIssuer } from '../support/https-issuer.ts';
import { runCliCaptured } from '../support/run-cli.ts';

const REVIEWER_TOKEN = 'reviewer-test-credential';
let idp: HttpsIssuer;
let dir: string;
let configFile: string;
let api: Server;
let apiUrl: string;
const reviews: Record<string, any>[] = [];

/** RBAC of the loopback API server: group → operations ("verb resource.group in namespace") it allows. */
const RBAC: Record<string, (op: string) => boolean> = {
  'oidc:argo-sts:ci:argo:read': (op) => /^(get|list|watch) (workflows|workflowtemplates|cronworkflows|workfloweventbindings|workflowtaskresults)\.argoproj\.io in ci$|^(get|list|watch) pods(\/log)? in ci$|^(get|list|watch) events in ci$/.test(op),
};

function operation(attrs: Record<string, string>): string {
  return `${attrs.verb} ${attrs.resource}${attrs.group ? `.${attrs.group}` : ''}${attrs.subresource ? `/${attrs.subresource}` : ''} in ${attrs.namespace}`;
}

const now = () => Math.floor(Date.now() / 1000);
const claims = (overrides: Record<string, unknown> = {}) => fixtureClaims('keycloak-access-token', now(), { iss: idp.issuer, aud: 'kubernetes', groups: ['argo-sts:ci:argo:read'], ...overrides });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'argo-sts-diagnose-cluster-'));
  idp = await startHttpsIssuer({ path: '/realms/platform' });
  configFile = join(dir, 'authentication-config.yaml');
  writeFileSync(configFile, oneIssuerConfig(idp));
  // Like a real API server: https with its own CA, a bearer token or a client certificate it issued.
  const tls = await loopbackCertificate();
  api = createServer({ key: tls.key, cert: tls.cert, ca: tls.cert, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const byCertificate = (req.socket as TLSSocket).authorized;
      if (!byCertificate && req.headers.authorization !== `Bearer ${REVIEWER_TOKEN}`) return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"kind":"Status","code":401,"message":"Unauthorized"}');
      if (req.method !== 'POST' || req.url !== '/apis/authorization.k8s.io/v1/subjectaccessreviews') return void res.writeHead(404).end();
      const review = JSON.parse(body);
      reviews.push(review);
      const op = operation(review.spec.resourceAttributes);
      const allowed = (review.spec.groups as string[]).some((g) => RBAC[g]?.(op));
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ ...review, status: { allowed, ...(allowed ? { reason: 'RBAC: allowed by RoleBinding' } : {}) } }));
    });
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  apiUrl = `https://127.0.0.1:${(api.address() as AddressInfo).port}`;
  const b64 = (pem: string) => Buffer.from(pem).toString('base64');
  writeFileSync(join(dir, 'kubeconfig'), `apiVersion: v1
kind: Config
current-context: test
contexts:
  - { name: test, context: { cluster: loopback, user: reviewer } }
  - { name: admin, context: { cluster: loopback, user: admin } }
  - { name: stranger, context: { cluster: loopback, user: stranger } }
clusters: [{ name: loopback, cluster: { server: "${apiUrl}", certificate-authority-data: ${b64(tls.cert)} } }]
users:
  - { name: reviewer, user: { token: ${REVIEWER_TOKEN} } }
  - { name: admin, user: { client-certificate-data: ${b64(tls.cert)}, client-key-data: ${b64(tls.key)} } }
  - { name: stranger, user: { token: not-the-reviewer } }
`);
});

afterAll(async () => {
  await idp.close();
  await new Promise<void>((resolve) => api.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('argo-sts diagnose --cluster', () => {
  it('exits 0 and prints the --json contract when the apiserver would authenticate the token', async () => {
    const token = await idp.sign(claims());
    const run = await runCliCaptured(['diagnose', '--cluster', configFile, '-', '--json'], { stdin: token });
    expect(run.code).toBe(0);
    const body = JSON.parse(run.stdout);
    expect(body).toMatchObject({
      verdict: 'authenticated',
      authenticator: idp.issuer,
      user: { username: 'oidc:alice', groups: ['oidc:argo-sts:ci:argo:read', 'system:authenticated'], uid: '', extra: {} },
    });
    expect(body.checks.map((c: { check: string }) => c.check)).toEqual(['issuer', 'discovery', 'signature', 'audience', 'expiry', 'not_before', 'claim_validation', 'claim_mapping', 'user_validation']);
    for (const c of body.checks) {
      expect(typeof c.message).toBe('string');
      expect(['pass', 'fail', 'warn', 'skip']).toContain(c.status);
    }
    expect(run.stdout).not.toContain(token);
  });

  it('exits 1 with the failing check and its fix for a token of the wrong audience, in the report for people', async () => {
    const token = await idp.sign(claims({ aud: 'argo-sts' }));
    const run = await runCliCaptured(['diagnose', '--cluster', configFile, token]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^REFUSED: kube-apiserver would not authenticate this token/);
    expect(run.stdout).toMatch(/✗ audience +aud \["argo-sts"\] contains none of issuer.audiences \["kubernetes"\]/);
    expect(run.stdout).toMatch(/hint: The token's aud is argo-sts; issuer.audiences is kubernetes/);
    expect(run.stdout).toMatch(/the claim mappings give \(not authenticated\):\n {4}username: oidc:alice/);
    expect(run.stdout).not.toContain(token);
  });

  it('exits 2 on usage errors: a missing file, a file that is no configuration, broker flags, --verb or --namespace without --kubeconfig', async () => {
    const token = await idp.sign(claims());
    writeFileSync(join(dir, 'pod.yaml'), 'apiVersion: v1\nkind: Pod\n');
    for (const args of [
      ['--cluster', join(dir, 'missing.yaml')],
      ['--cluster', join(dir, 'pod.yaml')],
      ['--cluster', configFile, '--broker', 'http://127.0.0.1:1'],
      ['--cluster', configFile, '--verb', 'create', '--resource', 'workflows.argoproj.io'],
      ['--cluster', configFile, '--namespace', 'ci'],
      ['--kubeconfig', join(dir, 'kubeconfig')],
    ]) {
      const run = await runCliCaptured(['diagnose', ...args, '-'], { stdin: token });
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).not.toContain(token);
    }
  });

  it('with --kubeconfig, tells "authenticated but forbidden" from "not authenticated" by SubjectAccessReview', async () => {
    const token = await idp.sign(claims());
    reviews.length = 0;
    const read = await runCliCaptured(['diagnose', '--cluster', configFile, '-', '--json', '--kubeconfig', join(dir, 'kubeconfig')], { stdin: token });
    expect(read.code).toBe(0);
    const authorization = JSON.parse(read.stdout).checks.at(-1);
    expect(authorization).toMatchObject({ check: 'authorization', status: 'pass' });
    expect(authorization.scopes).toEqual(expect.arrayContaining([
      { scope: 'argo:read', namespace: 'ci', allowed: 24, total: 24, denied: [] },
      expect.objectContaining({ scope: 'argo:submit', namespace: 'ci', allowed: 24, total: 25, denied: ['create workflows.argoproj.io in ci'] }),
    ]));
    expect(reviews[0]!.spec).toMatchObject({ user: 'oidc:alice', groups: ['oidc:argo-sts:ci:argo:read', 'system:authenticated'] });

    const create = await runCliCaptured(['diagnose', '--cluster', configFile, '-', '--kubeconfig', join(dir, 'kubeconfig'), '--verb', 'create', '--resource', 'workflows.argoproj.io', '--namespace', 'ci'], { stdin: token });
    expect(create.code).toBe(0);
    expect(create.stdout).toMatch(/✗ authorization +create workflows.argoproj.io in ci: forbidden/);
    expect(create.stdout).toMatch(/hint: The cluster knows the user and says no: create workflows.argoproj.io in ci/);

    const admin = await runCliCaptured(['diagnose', '--cluster', configFile, '-', '--json', '--kubeconfig', join(dir, 'kubeconfig'), '--context', 'admin'], { stdin: token });
    expect(JSON.parse(admin.stdout).checks.at(-1)).toMatchObject({ check: 'authorization', status: 'pass' });

    const stranger = await runCliCaptured(['diagnose', '--cluster', configFile, '-', '--json', '--kubeconfig', join(dir, 'kubeconfig'), '--context', 'stranger'], { stdin: token });
    expect(stranger.code).toBe(0);
    expect(JSON.parse(stranger.stdout).checks.at(-1)).toMatchObject({ check: 'authorization', status: 'fail', cause: 'cluster.authorization.unavailable' });
    expect(stranger.stdout).not.toContain('not-the-reviewer');

    reviews.length = 0;
    const expired = await runCliCaptured(['diagnose', '--cluster', configFile, '-', '--json', '--kubeconfig', join(dir, 'kubeconfig')], { stdin: await idp.sign(claims({ iat: now() - 400, exp: now() - 100 })) });
    expect(expired.code).toBe(1);
    expect(JSON.parse(expired.stdout).checks.at(-1)).toMatchObject({ check: 'authorization', status: 'skip' });
    expect(reviews).toEqual([]);
  });

  it('replays the transcript README, docs/troubleshooting.md and --help show', async () => {
    const [, configText, command, output] = /^\$ cat authentication-config.yaml\n([\s\S]*?)\n(\$ argo-sts diagnose [^\n]*)\n([\s\S]*?)\n\$ echo \$\?\n(\d)$/.exec(CLUSTER_TRANSCRIPT) ?? [];
    expect(command).toBe('$ argo-sts diagnose --cluster authentication-config.yaml - < entra-token.jwt');
    const file = join(dir, 'transcript-config.yaml');
    writeFileSync(file, `${configText}\n`);
    const { privateKey } = await generateKeyPair('RS256');
    const v1 = fixtureClaims('entra-v1-access-token', now());
    const token = await new SignJWT(v1).setProtectedHeader({ alg: 'RS256', kid: 'entra-test-key' }).sign(privateKey);
    const run = await runCliCaptured(['diagnose', '--cluster', file, '-'], { stdin: token });
    const normalize = (text: string) => text.replace(/server time \S+/, 'server time <now>').trimEnd();
    expect(normalize(run.stdout)).toBe(normalize(output!));
    expect(String(run.code)).toBe(CLUSTER_TRANSCRIPT.slice(-1));

    const help = await runCliCaptured(['diagnose', '--help']);
    expect(help.stdout).toContain(CLUSTER_TRANSCRIPT);
    expect(readFileSync(new URL('../../README.md', import.meta.url), 'utf8')).toContain(CLUSTER_TRANSCRIPT);
    expect(readFileSync(TROUBLESHOOTING_DOC, 'utf8')).toContain(`\n\`\`\`text\n${CLUSTER_TRANSCRIPT}\n\`\`\`\n`);
  });
});

describe('docs/troubleshooting.md, cluster side', () => {
  it('documents every cluster check and cause, generated from the cluster catalogue', () => {
    const doc = readFileSync(TROUBLESHOOTING_DOC, 'utf8');
    expect(doc).toContain('\n# Why does the cluster refuse my token?\n');
    for (const entry of CLUSTER_CATALOGUE) {
      expect(doc).toContain(`## cluster: ${entry.id}\n`);
      for (const c of entry.causes) expect(doc).toContain(`### ${c.id}\n`);
    }
  });
});
