/**
 * `npm run deploy` checks the environment's config as the Worker will load it and refuses an
 * invalid one before wrangler uploads anything. Run against `wrangler deploy --dry-run`, so
 * nothing leaves the machine.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkWorkerEnvironment, wranglerTarget } from '../../scripts/deploy-worker.ts';
import { minimalConfig } from '../support/configs.ts';
import { WRANGLER_LOOPBACK_ENV } from '../support/spawn-worker.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const VALID = minimalConfig({ keys: 'env:SIGNING_KEYS', audit: 'd1:AUDIT' });
const INVALID = minimalConfig({ keys: 'env:SIGNING_KEYS', audit: 'd1:AUDIT', policyTarget: 'argo-nowhere' });

const coordinator = { bindings: [{ name: 'ARGO_STS_COORDINATOR' }] };
const audit = [{ binding: 'AUDIT' }];

describe('the deploy check of an environment', () => {
  it('accepts a valid config whose D1 binding exists', () => {
    const check = checkWorkerEnvironment({ vars: { ARGO_STS_CONFIG: VALID, SIGNING_KEYS: '{}' }, d1_databases: audit, durable_objects: coordinator }, 'env staging');
    expect(check).toEqual({ ok: true, lines: ['argo-sts: env staging: config ok'] });
  });

  it('accepts, with a warning, an env: reference that is not a var (it must be a Worker secret)', () => {
    const check = checkWorkerEnvironment({ vars: { ARGO_STS_CONFIG: VALID }, d1_databases: audit, durable_objects: coordinator }, 'env staging');
    expect(check).toEqual({ ok: true, lines: ['warning: signing.keys: env:SIGNING_KEYS is not a var of env staging: it must be a Worker secret (wrangler secret put)', 'argo-sts: env staging: config ok'] });
  });

  it('refuses an invalid config, naming the failing path as `argo-sts config check` does', () => {
    const check = checkWorkerEnvironment({ vars: { ARGO_STS_CONFIG: INVALID }, d1_databases: audit, durable_objects: coordinator }, 'env staging');
    expect(check.ok).toBe(false);
    expect(check.lines.some((line) => line.startsWith('policies[0].target:'))).toBe(true);
  });

  it('refuses a d1: sink whose binding the environment does not declare', () => {
    const check = checkWorkerEnvironment({ vars: { ARGO_STS_CONFIG: VALID }, d1_databases: [{ binding: 'OTHER' }], durable_objects: coordinator }, 'env staging');
    expect(check.ok).toBe(false);
    expect(check.lines[0]).toContain('audit.sink: d1:AUDIT names no D1 binding');
  });

  it('refuses a sqlite: sink, which exists on Node only', () => {
    const check = checkWorkerEnvironment({ vars: { ARGO_STS_CONFIG: minimalConfig({ audit: 'sqlite:./audit.db' }) } }, 'env staging');
    expect(check.ok).toBe(false);
    expect(check.lines[0]).toContain('audit.sink: sqlite:');
  });

  it('says so, and goes ahead, when the config is a secret it cannot read', () => {
    const check = checkWorkerEnvironment({ vars: {} }, 'env production');
    expect(check.ok).toBe(true);
    expect(check.lines[0]).toContain('not checked');
  });

  it('warns when the coordinator Durable Object is not bound', () => {
    const check = checkWorkerEnvironment({ vars: { ARGO_STS_CONFIG: VALID, SIGNING_KEYS: '{}' }, d1_databases: audit }, 'env staging');
    expect(check.ok).toBe(true);
    expect(check.lines[0]).toContain('per isolate');
  });

  it('finds the wrangler config and environment the way wrangler reads its arguments', () => {
    expect(wranglerTarget(['-c', 'a.toml', '--env', 'staging', '--dry-run'])).toEqual({ config: 'a.toml', env: 'staging' });
    expect(wranglerTarget(['--config=b.json', '-e=production'])).toEqual({ config: 'b.json', env: 'production' });
  });
});

describe('npm run deploy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'argo-sts-deploy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function deploy(config: string, name: string) {
    const path = join(dir, `${name}.json`);
    writeFileSync(path, JSON.stringify({
      name: 'argo-sts',
      main: join(REPO_ROOT, 'functions/worker.ts'),
      compatibility_date: '2026-10-01',
      compatibility_flags: ['nodejs_compat'],
      env: {
        staging: {
          vars: { ARGO_STS_CONFIG: config },
          d1_databases: [{ binding: 'AUDIT', database_name: 'argo-sts-audit', database_id: '00000000-0000-0000-0000-000000000000' }],
          durable_objects: { bindings: [{ name: 'ARGO_STS_COORDINATOR', class_name: 'StsCoordinator' }] },
        },
      },
      migrations: [{ tag: 'v1-coordinator', new_sqlite_classes: ['StsCoordinator'] }],
    }));
    const outdir = join(dir, `${name}-out`);
    const run = spawnSync('npm', ['run', 'deploy', '--silent', '--', '-c', path, '--env', 'staging', '--dry-run', '--outdir', outdir], {
      cwd: REPO_ROOT, env: { ...process.env, ...WRANGLER_LOOPBACK_ENV }, encoding: 'utf8', timeout: 120_000,
    });
    return { code: run.status, stderr: run.stderr, bundled: existsSync(join(outdir, 'worker.js')) };
  }

  it('refuses an invalid config with exit 2 and its path on stderr, and never runs wrangler', () => {
    const run = deploy(INVALID, 'invalid');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('policies[0].target');
    expect(run.stderr).toContain('not deployed');
    expect(run.bundled).toBe(false);
  }, 120_000);

  it('hands a valid config to wrangler deploy (here --dry-run), which bundles the Worker', () => {
    const run = deploy(VALID, 'valid');
    expect(run.stderr).toContain('environment "staging": config ok');
    expect(run.code).toBe(0);
    expect(run.bundled).toBe(true);
  }, 120_000);
});
