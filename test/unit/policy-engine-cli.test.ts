/** `argo-sts config check FILE` runs the compile step and every policy example, as the server's load does. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from '../support/run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'argo-sts-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, expectation: 'issue' | 'deny'): string {
  const path = join(dir, name);
  writeFileSync(path, `
issuer: https://sts.example.com
signing: { keys: generate }
idps:
  - { name: github, issuer: https://token.actions.githubusercontent.com, audiences: [argo-sts], preset: github-actions }
targets:
  - { name: argo, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - { id: no-forks, effect: deny, idp: github, subject_pattern: "repo:acme/*", claims: { event_name: pull_request_target } }
  - id: main
    idp: github
    target: argo
    subject: repo:acme/app:ref:refs/heads/main
    namespaces: [ci]
    scopes: [argo:submit]
    examples:
      - { claims: { sub: "repo:acme/app:ref:refs/heads/main", event_name: push }, expect: issue }
      - { claims: { sub: "repo:acme/app:ref:refs/heads/main", event_name: pull_request_target }, expect: ${expectation} }
`);
  return path;
}

async function check(path: string, env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await runCliCaptured(['config', 'check', path], { env });
  return { code, out: stdout, err: stderr };
}

describe('argo-sts config check FILE', () => {
  it('exits 0 and counts the examples that hold', async () => {
    const { code, out } = await check(write('good.yaml', 'deny'));
    expect(code).toBe(0);
    expect(out).toMatch(/1 policy \+ 1 deny; 2 policy example\(s\) hold/);
  });

  it('exits 2 and names the broken example by its path', async () => {
    const { code, err } = await check(write('bad.yaml', 'issue'));
    expect(code).toBe(2);
    expect(err).toMatch(/^policies\[1\]\.examples\[1\]: expected issue, got deny \(policy: a deny policy refuses/m);
  });
});

describe('infra/examples/policies.yaml', () => {
  it('loads, and every policy example in it holds', async () => {
    const path = new URL('../../infra/examples/policies.yaml', import.meta.url).pathname;
    const { code, out, err } = await check(path, { ARGO_STS_SIGNING_KEYS: '(set where the broker runs)' });
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(/3 policies \+ 1 deny; 11 policy example\(s\) hold/);
  });
});
