/**
 * Files that hold secrets or personal data are created owner-only: the SQLite audit trail (IPs,
 * emails) 0600 in a 0700 directory when the broker creates it, and private key sets from
 * `argo-sts keys generate` (with --out, and through a `> file` redirect of the real command).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteAuditSink } from '../../functions/node/sqlite-audit-sink.ts';
import { runCliCaptured } from '../support/run-cli.ts';

const CLI = fileURLToPath(new URL('../../cli/argo-sts.ts', import.meta.url));
let dir: string;
const mode = (path: string) => statSync(path).mode & 0o777;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'argo-sts-owner-only-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the audit database', () => {
  it('is created 0600, with its WAL, in a directory created 0700', async () => {
    const path = join(dir, 'new-dir', 'audit.db');
    const sink = new SqliteAuditSink(path);
    await sink.record({ v: 3, time: new Date().toISOString(), request_id: 'r1', endpoint: 'token', decision: 'denied', client_ip: '192.0.2.1' });
    expect(mode(join(dir, 'new-dir'))).toBe(0o700);
    expect(mode(path)).toBe(0o600);
    if (existsSync(`${path}-wal`)) expect(mode(`${path}-wal`)).toBe(0o600);
    await sink.close();
  });
});

describe('argo-sts keys generate', () => {
  it('--out FILE writes the private set 0600 and refuses to overwrite an existing file', async () => {
    const path = join(dir, 'keys.json');
    const first = await runCliCaptured(['keys', 'generate', '--out', path]);
    expect(first.code).toBe(0);
    expect(first.stdout).toBe('');
    expect(mode(path)).toBe(0o600);
    expect((JSON.parse(readFileSync(path, 'utf8')) as { keys: { d?: string }[] }).keys[0]!.d).toBeDefined();
    const again = await runCliCaptured(['keys', 'generate', '--out', path]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists/);
  });

  it('makes a `> file` redirect owner-only before writing the private set into it', () => {
    const path = join(dir, 'redirected.json');
    const fd = openSync(path, 'w', 0o644);
    try {
      const run = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', CLI, 'keys', 'generate'], { stdio: ['ignore', fd, 'pipe'], env: { PATH: process.env.PATH } });
      expect(run.status).toBe(0);
    } finally {
      closeSync(fd);
    }
    expect(mode(path)).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toContain('"d"');
  });
});
