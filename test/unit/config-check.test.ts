/**
 * What `argo-sts config check` (and the server's load) says of documents that would fail or are
 * dangerous: load errors the server refuses to start with, warnings only `config check` prints,
 * and messages that say what to write instead of what zod or the YAML parser saw.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig, parseConfigText } from '../../shared/broker/load-config.ts';
import { ConfigError } from '../../shared/config/parse-config.ts';
import { runCliCaptured } from '../support/run-cli.ts';

function doc(change: (d: Record<string, any>) => void = () => {}): Record<string, any> {
  const d: Record<string, any> = {
    issuer: 'https://sts.acme-corp.io',
    signing: { alg: 'ES256', keys: 'env:ARGO_STS_SIGNING_KEYS' },
    idps: [{ name: 'github', issuer: 'https://token.actions.githubusercontent.com', audiences: ['argo-sts'], preset: 'github-actions' }],
    targets: [{ name: 'argo-prod', kind: 'kubernetes-oidc', audience: 'kubernetes' }],
    policies: [{ id: 'ci-main', idp: 'github', target: 'argo-prod', subject: 'repo:acme/app:ref:refs/heads/main', namespaces: ['ci'], scopes: ['argo:read'] }],
  };
  change(d);
  return d;
}

function issues(value: Record<string, any> | string): readonly string[] {
  try {
    if (typeof value === 'string') parseConfigText(value);
    else parseConfig(value);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

const dir = mkdtempSync(join(tmpdir(), 'argo-sts-config-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function configCheck(d: Record<string, any>, env: Record<string, string> = {}) {
  const path = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, stringify(d));
  return runCliCaptured(['config', 'check', path], { env });
}

describe('load errors: the server refuses to start, config check exits 2', () => {
  it('refuses keys: generate with a public https issuer (every restart and replica would sign with other keys)', () => {
    expect(issues(doc((d) => { d.signing.keys = 'generate'; }))).toEqual([
      expect.stringMatching(/^signing\.keys: "generate" makes throw-away keys.*https:\/\/sts\.acme-corp\.io/),
    ]);
  });

  it('accepts keys: generate and reveal: full on loopback and reserved (.test, .example, example.com) issuers', () => {
    for (const issuer of ['http://127.0.0.1:8787', 'http://localhost:8787', 'https://sts.test.example', 'https://sts.example.com']) {
      expect(issues(doc((d) => { d.issuer = issuer; d.signing.keys = 'generate'; d.diagnose = { reveal: 'full' }; })), issuer).toEqual([]);
    }
  });

  it('refuses diagnose.reveal: full with a public https issuer (it shows every policy to anyone)', () => {
    expect(issues(doc((d) => { d.diagnose = { reveal: 'full' }; }))).toEqual([expect.stringMatching(/^diagnose\.reveal: "full" shows every policy.*verified/)]);
  });

  it('refuses a glob in the exact-match subject, pointing at subject_pattern', () => {
    expect(issues(doc((d) => { d.policies[0].subject = 'repo:acme/app:*'; }))).toEqual([
      'policies[0].subject: "repo:acme/app:*" is matched exactly, so "*" matches only a literal "*"; use subject_pattern for a glob',
    ]);
  });

  it("refuses GitHub's default audience (the owner URL) in a github-actions idp's audiences", () => {
    expect(issues(doc((d) => { d.idps[0].audiences = ['https://github.com/acme']; }))).toEqual([
      expect.stringMatching(/^idps\[0\]\.audiences\[0\]: "https:\/\/github\.com\/acme" is GitHub's default audience.*every job.*argo-sts/),
    ]);
  });
});

describe('messages that say what to write', () => {
  it('names a missing audiences list as required, not "expected array, received undefined"', () => {
    const found = issues(doc((d) => { delete d.idps[0].audiences; }));
    expect(found).toEqual(['idps[0].audiences: required (a list, e.g. [argo-sts])']);
  });

  it('suggests the key a typo meant', () => {
    expect(issues(doc((d) => { d.idps[0].audience = d.idps[0].audiences; delete d.idps[0].audiences; }))).toContain('idps[0].audience: unknown key "audience"; did you mean "audiences"?');
    expect(issues(doc((d) => { d.policies[0].namespace = ['ci']; delete d.policies[0].namespaces; }))).toContain('policies[0].namespace: unknown key "namespace"; did you mean "namespaces"?');
  });

  it('gives the values when a policy max_ttl is over defaults.max_ttl', () => {
    expect(issues(doc((d) => { d.policies[0].max_ttl = '2h'; }))).toEqual([
      'policies[0].max_ttl: 2h is over defaults.max_ttl 1h; lower it or raise defaults.max_ttl (at most 24h)',
    ]);
  });

  it('answers 48h with "at most 24h", limits written as durations', () => {
    expect(issues(doc((d) => { d.defaults = { max_ttl: '48h' }; }))).toEqual(['defaults.max_ttl: 48h is over the limit: at most 24h']);
    expect(issues(doc((d) => { d.defaults = { clock_skew: '10m' }; }))).toEqual(['defaults.clock_skew: 10m is over the limit: at most 5m']);
  });

  it('says where a YAML syntax error is, without a dangling ":"', () => {
    const [message] = issues('issuer: https://sts.example.com\nidps:\n  - name: github\n    issuer: a: b\n');
    expect(message).toMatch(/^\(document\): not valid YAML or JSON: line 4, column \d+: /);
    expect(message).not.toMatch(/:\s*$/);
  });
});

describe('config check warnings: printed, exit 0', () => {
  it('warns about env: secrets that are unset where it runs, and says the server refuses to start without them', async () => {
    const { code, stdout, stderr } = await configCheck(doc((d) => { d.issuer = 'https://sts.example.com'; }), {});
    expect(code).toBe(0);
    expect(stdout).toMatch(/^config ok/);
    expect(stderr).toContain('warning: signing.keys: env:ARGO_STS_SIGNING_KEYS is not set here; the server refuses to start unless it is set where it runs');
    const set = await configCheck(doc((d) => { d.issuer = 'https://sts.example.com'; }), { ARGO_STS_SIGNING_KEYS: '{}' });
    expect(set.stderr).toBe('');
  });

  it('exits 2 for a load error, each on its own line', async () => {
    const { code, stderr } = await configCheck(doc((d) => { d.policies[0].subject = 'repo:acme/*'; }), { ARGO_STS_SIGNING_KEYS: '{}' });
    expect(code).toBe(2);
    expect(stderr).toMatch(/^policies\[0\]\.subject: /m);
  });
});
