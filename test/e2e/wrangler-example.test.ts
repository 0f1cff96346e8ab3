/**
 * infra/wrangler/wrangler.example.toml, the documented Workers deploy, carries in each
 * environment what production needs: the StsCoordinator Durable Object (binding and migration)
 * and the D1 audit database, and no var that would stand in a secret's place. Checked by
 * wrangler itself: `wrangler deploy --dry-run` builds the environment and lists its bindings,
 * and wrangler's own config reader gives the environment as it would deploy it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unstable_readConfig } from 'wrangler';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLE = 'infra/wrangler/wrangler.example.toml';
/** The names the example's header says are Worker secrets. */
const SECRETS = ['ARGO_STS_CONFIG', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'ENTRA_CLIENT_SECRET'];

let out: string;
let dryRun: string;

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'argo-sts-wrangler-'));
  const { stdout, stderr } = await promisify(execFile)('npx', ['--no-install', 'wrangler', 'deploy', '--dry-run', '--env', 'production', '--config', EXAMPLE, '--outdir', out], {
    cwd: REPO_ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' },
    timeout: 120_000,
  });
  dryRun = stdout + stderr;
}, 130_000);

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe('wrangler deploy --dry-run --env production of the example', () => {
  it('lists the StsCoordinator Durable Object and the D1 audit database among the bindings', () => {
    const bindings = dryRun.split('\n').map((line) => line.trim().split(/\s{2,}/)).filter((cells) => cells[0]?.startsWith('env.'));
    expect(bindings).toEqual(expect.arrayContaining([
      ['env.ARGO_STS_COORDINATOR (StsCoordinator)', 'Durable Object'],
      ['env.AUDIT (argo-sts-audit)', 'D1 Database'],
    ]));
    expect(bindings.map((cells) => cells[0]!.split(' ')[0]!.slice('env.'.length)).filter((name) => SECRETS.includes(name))).toEqual([]);
  });

  it('bundles the Worker with the Durable Object class exported', async () => {
    const bundle = await readFile(join(out, 'worker.js'), 'utf8');
    expect(bundle).toMatch(/as StsCoordinator\b/);
  });
});

describe.each(['staging', 'production'])('the %s environment as wrangler reads it', (env) => {
  const config = unstable_readConfig({ config: join(REPO_ROOT, EXAMPLE), env });

  it('binds ARGO_STS_COORDINATOR to a class that a migration creates with SQLite storage', () => {
    expect(config.durable_objects.bindings).toEqual([{ name: 'ARGO_STS_COORDINATOR', class_name: 'StsCoordinator' }]);
    expect(config.migrations.flatMap((migration: { new_sqlite_classes?: string[] }) => migration.new_sqlite_classes ?? [])).toContain('StsCoordinator');
  });

  it('binds a D1 database as AUDIT (audit: { sink: d1:AUDIT })', () => {
    expect(config.d1_databases.map((db: { binding: string }) => db.binding)).toEqual(['AUDIT']);
  });

  it('deploys functions/worker.ts and sets no var under a secret\'s name', () => {
    expect(config.main).toBe(join(REPO_ROOT, 'functions/worker.ts'));
    expect(Object.keys(config.vars).filter((name) => SECRETS.includes(name))).toEqual([]);
  });
});
