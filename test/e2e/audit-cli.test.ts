/**
 * `argo-sts audit` over a real SQLite trail written by the real sink: the operator's questions
 * ("who got credentials for namespace ci in the last hour") answered in one command, as a table,
 * JSON lines or CSV, and as SQL for D1.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteAuditSink } from '../../functions/node/sqlite-audit-sink.ts';
import type { AuditEvent } from '../../shared/audit/audit-event.ts';
import { type CliRun, runCliCaptured } from '../support/run-cli.ts';

let dir: string;
let dbPath: string;

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

function event(overrides: Partial<AuditEvent> & Pick<AuditEvent, 'request_id'>): AuditEvent {
  return {
    v: 2, time: minutesAgo(5), endpoint: 'token', decision: 'issued', idp: 'github', iss: 'https://token.actions.githubusercontent.com',
    sub: 'repo:acme/app:ref:refs/heads/main', policy: 'ci-main', target: 'argo-prod', namespace: 'ci', scopes: ['argo:submit'], ttl: 600,
    jti: `jti-${overrides.request_id}`, context: { repository: 'acme/app', run_id: '42' }, ...overrides,
  };
}

const EVENTS: AuditEvent[] = [
  event({ request_id: 'recent-ci', time: minutesAgo(10) }),
  event({ request_id: 'old-ci', time: minutesAgo(120) }),
  event({ request_id: 'recent-platform', namespace: 'platform', policy: 'platform' }),
  event({ request_id: 'denied-ci', decision: 'denied', jti: undefined, error: 'ERR_SCOPE_NOT_ALLOWED', check: 'scope' }),
  event({
    request_id: 'gitlab-ci', time: minutesAgo(20), idp: 'gitlab', sub: 'project_path:group/proj:ref_type:branch:ref:main', policy: 'gitlab-main',
    context: { project_path: 'group/proj', pipeline_id: '7' },
  }),
  event({ request_id: 'spreadsheet', time: minutesAgo(30), namespace: 'sheets', sub: '=cmd|calc', context: { repository: 'acme/"quoted",app' } }),
];

function cli(...args: string[]): Promise<CliRun> {
  return runCliCaptured(['audit', ...args]);
}

const ids = (jsonLines: string) => jsonLines.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).request_id);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'argo-sts-audit-cli-'));
  dbPath = join(dir, 'audit.db');
  const sink = new SqliteAuditSink(dbPath);
  await Promise.all(EVENTS.map((e) => sink.record(e)));
  await sink.close();
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('argo-sts audit', () => {
  it('answers "who got credentials for namespace ci in the last hour" in one command', async () => {
    const { code, stdout } = await cli('--db', dbPath, '--namespace', 'ci', '--decision', 'issued', '--since', '1h', '--format', 'json');
    expect(code).toBe(0);
    expect(ids(stdout)).toEqual(['gitlab-ci', 'recent-ci']);
    const first = JSON.parse(stdout.split('\n')[0]!);
    expect(first).toMatchObject({ idp: 'gitlab', sub: 'project_path:group/proj:ref_type:branch:ref:main', scopes: ['argo:submit'], context: { project_path: 'group/proj' } });
  });

  it('prints a table for people, with who, what and the jti or the refusal', async () => {
    const { stdout } = await cli('--db', dbPath, '--namespace', 'ci', '--since', '1h');
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^time\s+decision\s+idp\s+sub\s+policy\s+namespace\s+scopes\s+ttl\s+jti\/error\s+repository$/);
    expect(lines).toHaveLength(4);
    expect(stdout).toContain('ERR_SCOPE_NOT_ALLOWED');
    expect(stdout).toContain('jti-recent-ci');
    expect((await cli('--db', dbPath, '--namespace', 'nowhere')).stdout).toBe('no matching audit events\n');
  });

  it('filters by sub in either form, by repository glob across GitHub and GitLab, by idp, policy and time window', async () => {
    const json = async (...args: string[]) => ids((await cli('--db', dbPath, '--format', 'json', ...args)).stdout);
    expect(await json('--sub', 'github:repo:acme/app:ref:refs/heads/main', '--since', '1h')).toEqual(['recent-ci', 'recent-platform', 'denied-ci']);
    expect(await json('--sub', 'repo:acme/*', '--until', '1h')).toEqual(['old-ci']);
    expect(await json('--repository', 'group/*')).toEqual(['gitlab-ci']);
    expect(await json('--idp', 'github', '--policy', 'platform')).toEqual(['recent-platform']);
    expect(await json('--since', minutesAgo(25), '--until', minutesAgo(15))).toEqual(['gitlab-ci']);
    expect(await json('--limit', '1')).toEqual(['old-ci']);
  });

  it('writes RFC 4180 CSV that a spreadsheet cannot run as a formula', async () => {
    const { stdout } = await cli('--db', dbPath, '--namespace', 'sheets', '--format', 'csv');
    const [header, row] = stdout.split('\r\n');
    expect(header!.split(',').slice(0, 4)).toEqual(['time', 'request_id', 'endpoint', 'decision']);
    expect(row).toContain(",'=cmd|calc,");
    expect(row).toContain('"{""repository"":""acme/\\""quoted\\"",app""}"');
  });

  it('prints the same query as SQL for D1, and that SQL returns the same rows', async () => {
    const { stdout } = await cli('--sql', '--namespace', 'ci', '--decision', 'issued', '--since', '1h', '--repository', "o'brien/*");
    expect(stdout).toMatch(/^SELECT \* FROM audit_events WHERE time >= '\d{4}-.*' AND decision = 'issued' AND namespace = 'ci' AND .*'o''brien\/\*'.* ORDER BY time, id;\n$/);
    const ciLastHour = (await cli('--sql', '--namespace', 'ci', '--decision', 'issued', '--since', '1h')).stdout;
    const db = new DatabaseSync(dbPath, { readOnly: true });
    const rows = db.prepare(ciLastHour).all() as { request_id: string }[];
    db.close();
    expect(rows.map((r) => r.request_id)).toEqual(['gitlab-ci', 'recent-ci']);
  });

  it('takes the database from the config file audit.sink', async () => {
    const configPath = join(dir, 'argo-sts.yaml');
    writeFileSync(configPath, `
issuer: https://sts.example.com
signing: { keys: generate }
idps: [{ name: github, issuer: https://token.actions.githubusercontent.com, audiences: [argo-sts] }]
targets: [{ name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }]
policies: []
audit: { sink: "sqlite:${dbPath}" }
`);
    const { code, stdout } = await cli('--config', configPath, '--format', 'json', '--policy', 'gitlab-main');
    expect(code).toBe(0);
    expect(ids(stdout)).toEqual(['gitlab-ci']);
  });

  it('refuses bad flags with exit 2 and a missing database with exit 1', async () => {
    expect((await cli('--db', dbPath, '--since', 'yesterday')).code).toBe(2);
    expect((await cli('--db', dbPath, '--format', 'xml')).code).toBe(2);
    expect((await cli('--db', dbPath, '--decision', 'maybe')).code).toBe(2);
    const missing = await cli('--db', join(dir, 'none.db'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no audit database');
  });
});
