/**
 * `npm run demo` as a newcomer runs it: the real command, its own process group, every scene's
 * key line, exit 0, no process or temporary directory left behind, and no whole token printed.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { groupAlive } from '../support/spawn-server.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Bounds a hung demo only; it normally ends in a few seconds. */
const DEMO_LIMIT_MS = 60_000;

function runDemo(): Promise<{ code: number | null; stdout: string; stderr: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'demo'], { cwd: REPO_ROOT, env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), DEMO_LIMIT_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, pid: child.pid! });
    });
  });
}

describe('npm run demo', () => {
  it('tells the whole story on loopback, exits 0 and leaves nothing behind', async () => {
    const { code, stdout, stderr, pid } = await runDemo();
    expect(stderr.replace(/^oidc-provider WARNING: Unsupported runtime.*\n/m, '')).toBe('');
    expect(code).toBe(0);
    expect(groupAlive(pid)).toBe(false);

    // Where everything ran: loopback only.
    for (const url of stdout.match(/https?:\/\/[^\s)]+/g) ?? []) {
      if (!url.includes('.example')) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);
    }
    // 1. the CI job's credential, decoded
    expect(stdout).toContain('$ argo-sts exchange --audience argo-prod --scope argo:submit --format env');
    expect(stdout).toMatch(/ARGO_TOKEN="Bearer eyJ[^"]*…\(\d+ chars\)"/);
    expect(stdout).toContain('ARGO_NAMESPACE="ci"');
    expect(stdout).toMatch(/who \(sub\)\s+github:repo:acme\/app:ref:refs\/heads\/main/);
    expect(stdout).toMatch(/for how long\s+600 s/);
    // 2. the agent acting for alice
    // A client-credentials token's sub is the service-account user's UUID, as Keycloak issues it.
    expect(stdout).toMatch(/acting \(act\)\s+keycloak:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n/);
    // 3. the refused escalation
    expect(stdout).toMatch(/refused\s+400 invalid_scope\n\s+check\s+scope/);
    // 4. the clock ahead
    expect(stdout).toMatch(/check\s+issued_at\n\s+description\s+the token was issued 1[45]\d s in the future/);
    // The diagnosis is what `argo-sts diagnose` prints, verbatim.
    expect(stdout).toMatch(/^ {3}DENY: http:\/\/127\.0\.0\.1:\d+ would refuse this request$/m);
    expect(stdout).toMatch(/✗ issued_at\s+the token was issued 1[45]\d s in the future/);
    expect(stdout).toMatch(/✓ signature/);
    // The audit trail is shown through the CLI before the directory goes, and the demo says it goes.
    expect(stdout).toMatch(/\$ argo-sts audit --db .*audit\.db --decision denied\n\n? {3}time\s+decision/);
    expect(stdout).toContain('are deleted when the demo ends');
    expect(stdout).not.toContain('Query it with');
    // 5. the audit trail, with the agent's reason
    expect(stdout).toMatch(/(\d+) decisions in .*audit\.db \(and as many JSON lines on stdout: \1\)/);
    expect(stdout).toContain('reason "Summarize why the nightly-build workflow failed, for alice (ticket OPS-1432)"');
    expect(stdout).toContain('Demo complete.');

    // No whole JWT on screen, and the temporary directory is gone.
    expect(stdout).not.toMatch(/eyJ[\w-]{10,}\.[\w-]{20,}\.[\w-]{20,}/);
    const dir = /audit trail\s+(\S+)\/audit\.db/.exec(stdout)?.[1];
    expect(dir).toBeDefined();
    expect(existsSync(dir!)).toBe(false);
  });
});
