/**
 * `npm run demo -- --keep`: after the story, the playground stays up, README's exchange works
 * against it verbatim (its parameters are read from README's curl), `argo-sts dev token` hands out
 * tokens, and Ctrl-C stops everything and removes the playground file.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCliCaptured } from '../support/run-cli.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The -d parameters of README's curl example, with $GITHUB_OIDC_TOKEN filled in. */
function readmeExchange(token: string): URLSearchParams {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const block = /```sh\n(curl -s http:\/\/127\.0\.0\.1:8787\/token[\s\S]*?)```/.exec(readme)![1]!;
  const form = new URLSearchParams();
  for (const [, pair] of block.matchAll(/-d ("[^"]*"|\S+)/g)) {
    const [name, ...rest] = pair!.replace(/^"|"$/g, '').split('=');
    form.append(name!, rest.join('=').replace(/^"|"$/g, '').replace('$GITHUB_OIDC_TOKEN', token));
  }
  return form;
}

describe('the playground (npm run demo -- --keep)', () => {
  it('serves README\'s exchange with a token from argo-sts dev token, and stops cleanly on Ctrl-C', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'argo-sts-playground-')), 'playground.json');
    // What `npm run demo -- --keep` runs, as its own process so that Ctrl-C (SIGINT) reaches it alone.
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'cli/argo-sts.ts', 'demo', '--keep', '--port', '0'], {
      cwd: REPO_ROOT, env: { ...process.env, ARGO_STS_PLAYGROUND_FILE: file }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      for (let waited = 0; !out.includes('playground ready') && waited < 120_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain('playground ready');
      const { broker } = JSON.parse(readFileSync(file, 'utf8')) as { broker: string };

      const token = await runCliCaptured(['dev', 'token', '--idp', 'github'], { env: { ARGO_STS_PLAYGROUND_FILE: file } });
      expect(token.code).toBe(0);
      const res = await fetch(`${broker}/token`, { method: 'POST', body: readmeExchange(token.stdout.trim()) });
      const body = (await res.json()) as Record<string, unknown>;
      expect(res.status).toBe(200);
      expect(body).toMatchObject({ token_type: 'Bearer', scope: 'argo:submit', namespace: 'ci' });

      const alice = await runCliCaptured(['dev', 'token', '--idp', 'keycloak'], { env: { ARGO_STS_PLAYGROUND_FILE: file } });
      expect(alice.code).toBe(0);
      const diagnosed = await runCliCaptured(['diagnose', '--broker', broker, '--audience', 'argo-prod', '--namespace', 'dev', '--json', '-'], { stdin: alice.stdout.trim() });
      expect(JSON.parse(diagnosed.stdout)).toMatchObject({ verdict: 'issue' });
      expect((await fetch(`${broker}/diagnose`)).status).toBe(200);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(existsSync(file)).toBe(false);
    expect(out).not.toMatch(/eyJ[\w-]{20,}\.[\w-]{20,}\./);
  }, 180_000);

  it('says how to start one when none is running', async () => {
    const run = await runCliCaptured(['dev', 'token'], { env: { ARGO_STS_PLAYGROUND_FILE: join(tmpdir(), 'argo-sts-no-such-playground.json') } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('npm run demo -- --keep');
  });
});
