/**
 * `npm start` and `argo-sts serve` are one code path (functions/node/start-server.ts): the same
 * checks, the same one-line messages, the same exit code 2 for anything that stops a start.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliCaptured } from '../support/run-cli.ts';
import { spawnServerToExit } from '../support/spawn-server.ts';

const CONFIG = `
issuer: https://sts.example.com
signing: { keys: env:ARGO_STS_TEST_UNSET_SIGNING_KEYS }
idps:
  - { name: github, issuer: https://token.actions.githubusercontent.com, audiences: [argo-sts], preset: github-actions }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - { id: ci, idp: github, target: argo-prod, subject: "repo:acme/app:ref:refs/heads/main", namespaces: [ci], scopes: [argo:read] }
`;

describe('server start-up', () => {
  it('refuses a port that is not a number with one line and exit 2, from argo-sts serve', async () => {
    const run = await runCliCaptured(['serve', '--port', 'abc']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('argo-sts: PORT must be a port number (0-65535), got "abc"\n');
  });

  it('refuses the same port from npm start with the same line', async () => {
    const exited = await spawnServerToExit({ PORT: 'abc', ARGO_STS_CONFIG: CONFIG });
    expect(exited.code).toBe(2);
    expect(exited.stderr).toEqual(['argo-sts: PORT must be a port number (0-65535), got "abc"']);
  });

  it('exits 2 with one line for an unset signing-key secret, from both, and creates no audit database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'argo-sts-startup-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, `${CONFIG}audit: { sink: "sqlite:${join(dir, 'audit', 'audit.db')}" }\n`);
    const serve = await runCliCaptured(['serve', '--config', file, '--port', '0']);
    expect(serve.code).toBe(2);
    expect(serve.stderr.trim().split('\n')).toHaveLength(1);
    expect(serve.stderr).toContain('ARGO_STS_TEST_UNSET_SIGNING_KEYS');
    const npm = await spawnServerToExit({ ARGO_STS_CONFIG_FILE: file, PORT: '0' });
    expect(npm.code).toBe(2);
    expect(npm.stderr).toEqual([serve.stderr.trim()]);
    expect(readdirSync(dir)).toEqual(['config.yaml']);
  });
});
