/**
 * Starts the Worker the way an operator tries it locally — `wrangler dev`, real workerd — with a
 * wrangler config written to a temporary directory: the same entry point and Durable Object as
 * wrangler.toml, a local D1 database for the audit sink, and `vars` for the config and its
 * secrets. Bound to 127.0.0.1 on a port wrangler picks; nothing leaves loopback (no metrics, no
 * update check, no fetch of the `Request.cf` object). State (D1, the Durable Object) is kept
 * under the directory, so tests read the audit rows from miniflare's D1 file.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatabaseSync } from 'node:sqlite';
import { SPAWN_LIMITS, startProcessGroup, stopProcessGroup, waitForLine } from './spawn-server.ts';

const WORKER_ENTRY = fileURLToPath(new URL('../../functions/worker.ts', import.meta.url));

/** What keeps wrangler from talking to anything but loopback. */
export const WRANGLER_LOOPBACK_ENV = {
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_HIDE_BANNER: 'true', // the banner runs the npm update check
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
} as const;

/** The binding the audit sink writes to: `audit: { sink: d1:AUDIT_DB }`. */
export const AUDIT_D1_BINDING = 'AUDIT_DB';

export interface SpawnedWorker {
  readonly url: string;
  readonly stdout: readonly string[];
  readonly stderr: readonly string[];
  /** Rows of the audit table in the local D1 database. */
  auditRows(where: 'request_id' | 'jti', value: string): Record<string, unknown>[];
  stop(): Promise<number | null>;
}

/** The wrangler config of the test Worker: wrangler.toml's bindings plus a local D1 and `vars`. */
export function contractWranglerConfig(vars: Record<string, string>): Record<string, unknown> {
  return {
    name: 'argo-sts-contract',
    main: WORKER_ENTRY,
    compatibility_date: '2026-10-01',
    compatibility_flags: ['nodejs_compat'],
    durable_objects: { bindings: [{ name: 'ARGO_STS_COORDINATOR', class_name: 'StsCoordinator' }] },
    migrations: [{ tag: 'v1-coordinator', new_sqlite_classes: ['StsCoordinator'] }],
    d1_databases: [{ binding: AUDIT_D1_BINDING, database_name: 'argo-sts-audit', database_id: 'contract-audit' }],
    vars,
  };
}

function d1File(stateDir: string): string | undefined {
  const dir = join(stateDir, 'v3', 'd1', 'miniflare-D1DatabaseObject');
  if (!existsSync(dir)) return undefined;
  const file = readdirSync(dir).find((name) => name.endsWith('.sqlite') && name !== 'metadata.sqlite');
  return file && join(dir, file);
}

/** `wrangler dev` on `dir/wrangler.json`; resolves once wrangler says it is ready. */
export async function spawnWorker(dir: string, vars: Record<string, string>): Promise<SpawnedWorker> {
  const configPath = join(dir, 'wrangler.json');
  writeFileSync(configPath, JSON.stringify(contractWranglerConfig(vars), null, 2));
  const stateDir = join(dir, 'state');
  const { child, stdout, stderr, exited } = startProcessGroup('npx', [
    '--no-install', 'wrangler', 'dev', '--config', configPath, '--ip', '127.0.0.1', '--port', '0',
    '--inspector-port', '0', '--persist-to', stateDir, '--show-interactive-dev-session=false',
  ], { ...WRANGLER_LOOPBACK_ENV, CI: 'true' });
  const pid = child.pid!;
  // wrangler writes its lines to either stream; bundling and workerd start-up take a while on a busy machine.
  const match = await waitForLine({
    pid, lines: () => [...stdout, ...stderr], exited, pattern: /Ready on (http:\/\/127\.0\.0\.1:\d+)/, name: 'wrangler dev', timeoutMs: SPAWN_LIMITS.startMs * 2,
  });
  const url = match[1]!;
  return {
    url,
    stdout,
    stderr,
    auditRows(where, value) {
      const file = d1File(stateDir);
      if (!file) return [];
      const db = new DatabaseSync(file, { readOnly: true });
      try {
        return db.prepare(`SELECT * FROM audit_events WHERE ${where} = ?`).all(value) as Record<string, unknown>[];
      } finally {
        db.close();
      }
    },
    stop: () => stopProcessGroup(pid, exited),
  };
}
