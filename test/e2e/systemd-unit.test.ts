/**
 * infra/systemd/argo-sts.service as systemd itself reads it: `systemd-analyze verify` finds no
 * unknown or malformed setting, and `systemd-analyze security` rates its sandbox. The unit's
 * ExecStart names /usr/local/bin/argo-sts, the installed command; verify needs an executable
 * there, so a copy names this checkout's bin/argo-sts.js instead and nothing else changes.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
/** systemd's exposure scale runs from 0 (locked down) to 10; "OK" ends at 4.9. */
const MAX_EXPOSURE = 2.0;
const exec = promisify(execFile);

let dir: string;
let unit: string;
let text: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argo-sts-systemd-'));
  text = await readFile(join(REPO_ROOT, 'infra/systemd/argo-sts.service'), 'utf8');
  unit = join(dir, 'argo-sts.service');
  await writeFile(unit, text.replace('ExecStart=/usr/local/bin/argo-sts ', `ExecStart=${join(REPO_ROOT, 'bin/argo-sts.js')} `));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the systemd unit', () => {
  it('runs `argo-sts serve` on the config in /etc/argo-sts, as a dynamic user with a state directory', () => {
    expect(text).toMatch(/^ExecStart=\/usr\/local\/bin\/argo-sts serve --config \/etc\/argo-sts\/config\.yaml$/m);
    for (const line of ['DynamicUser=yes', 'StateDirectory=argo-sts', 'ProtectSystem=strict', 'NoNewPrivileges=yes']) expect(text.split('\n')).toContain(line);
  });

  it('passes systemd-analyze verify with nothing to say', async () => {
    const { stdout, stderr } = await exec(SYSTEMD_ANALYZE, ['verify', unit], { cwd: dir, timeout: 30_000 });
    expect(stdout + stderr).toBe('');
  });

  it(`rates an exposure of at most ${MAX_EXPOSURE} in systemd-analyze security`, async () => {
    const { stdout } = await exec(SYSTEMD_ANALYZE, ['security', '--offline=yes', '--no-pager', unit], { cwd: dir, timeout: 30_000 });
    const exposure = Number(/Overall exposure level for argo-sts\.service: ([0-9.]+)/.exec(stdout)?.[1]);
    expect(exposure).toBeLessThanOrEqual(MAX_EXPOSURE);
  });
});
