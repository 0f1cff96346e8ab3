/**
 * `argo-sts audit`: reads the SQLite audit trail. Filters become one parameterized SELECT; `--sql`
 * prints the same query with its values inlined, to run against D1 with `wrangler d1 execute`.
 */
import { existsSync } from 'node:fs';
import { type AuditEvent } from '../../shared/audit/audit-event.ts';
import { ConfigError } from '../../shared/config/parse-config.ts';
import { parseDuration } from '../../shared/config/duration.ts';
import { loadNodeConfig } from '../../functions/node/config-source.ts';
import { type CliIo, type Command, EXIT, UsageError } from '../command.ts';
import { parseFlags } from '../flags.ts';

export const DEFAULT_AUDIT_DB = './argo-sts-audit.db';
const FORMATS = ['table', 'json', 'csv'] as const;
const DECISIONS = ['issued', 'denied', 'diagnosed'] as const;

export interface AuditFilters {
  /** ISO 8601 bounds: since inclusive, until exclusive. */
  readonly since?: string | undefined;
  readonly until?: string | undefined;
  readonly sub?: string | undefined;
  readonly idp?: string | undefined;
  readonly policy?: string | undefined;
  readonly decision?: string | undefined;
  readonly namespace?: string | undefined;
  readonly repository?: string | undefined;
  readonly limit?: number | undefined;
}

export interface AuditQuery {
  readonly sql: string;
  readonly params: (string | number)[];
}

/**
 * The SELECT for a set of filters, oldest first. `sub` and `repository` take a glob (`*`, `?`)
 * when they contain one; `repository` matches GitHub's `repository` and GitLab's `project_path`.
 */
export function buildAuditQuery(filters: AuditFilters): AuditQuery {
  const where: string[] = [];
  const params: (string | number)[] = [];
  const add = (clause: string, ...values: (string | number)[]) => {
    where.push(clause);
    params.push(...values);
  };
  const matches = (column: string, value: string) => (/[*?[]/.test(value) ? `${column} GLOB ?` : `${column} = ?`);
  if (filters.since) add('time >= ?', filters.since);
  if (filters.until) add('time < ?', filters.until);
  if (filters.sub) {
    // The stored sub is the subject token's; accept the minted form "<idp>:<sub>" too.
    add(`(${matches('sub', filters.sub)} OR ${matches("idp || ':' || sub", filters.sub)})`, filters.sub, filters.sub);
  }
  if (filters.idp) add('idp = ?', filters.idp);
  if (filters.policy) add('policy = ?', filters.policy);
  if (filters.decision) add('decision = ?', filters.decision);
  if (filters.namespace) add('namespace = ?', filters.namespace);
  if (filters.repository) {
    const repo = filters.repository;
    add(`(${matches("json_extract(context, '$.repository')", repo)} OR ${matches("json_extract(context, '$.project_path')", repo)})`, repo, repo);
  }
  let sql = 'SELECT * FROM audit_events';
  if (where.length > 0) sql += ` WHERE ${where.join(' AND ')}`;
  sql += ' ORDER BY time, id';
  if (filters.limit !== undefined) {
    sql += ' LIMIT ?';
    params.push(filters.limit);
  }
  return { sql, params };
}

/** The query with its values as SQL literals, for `wrangler d1 execute --command`. */
export function inlineAuditQuery({ sql, params }: AuditQuery): string {
  let i = 0;
  return sql.replace(/\?/g, () => {
    const value = params[i++]!;
    return typeof value === 'number' ? String(value) : `'${value.replace(/'/g, "''")}'`;
  });
}

/** `1h` (or `7d`) → that long before `now`; an ISO 8601 time as given. */
export function parseTimeBound(flag: string, value: string, now: number): string {
  const days = /^(\d+)d$/.exec(value.trim());
  const seconds = days ? Number(days[1]) * 86_400 : parseDuration(value);
  if (seconds !== undefined) return new Date(now - seconds * 1000).toISOString();
  const time = Date.parse(value);
  if (/^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(time)) return new Date(time).toISOString();
  throw new UsageError(`--${flag} must be a duration before now (90s, 15m, 1h, 7d) or an ISO 8601 time, got ${JSON.stringify(value)}`);
}

type Row = Record<string, string | number | null>;

/** A stored row back in the event's shape (scopes as a list, context as an object). */
export function rowToEvent(row: Row): AuditEvent & { id: number } {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (value === null) continue;
    if (key === 'check_id') out.check = value;
    else if (key === 'scopes' || key === 'redacted') out[key] = String(value).split(' ').filter(Boolean);
    else if (key === 'context') out.context = JSON.parse(String(value));
    else out[key] = value;
  }
  return out as unknown as AuditEvent & { id: number };
}

const TABLE_COLUMNS = ['time', 'decision', 'idp', 'sub', 'policy', 'namespace', 'scopes', 'ttl', 'jti/error', 'repository'] as const;

function tableCells(event: AuditEvent): string[] {
  const repository = event.context?.repository ?? event.context?.project_path ?? '';
  return [
    event.time, event.decision, event.idp ?? '', event.sub ?? '', event.policy ?? '', event.namespace ?? '',
    (event.scopes ?? []).join(' '), event.ttl === undefined ? '' : String(event.ttl),
    event.decision === 'issued' ? (event.jti ?? '') : (event.error ?? ''), repository,
  ];
}

export function formatTable(events: readonly AuditEvent[]): string {
  const rows = [[...TABLE_COLUMNS] as string[], ...events.map(tableCells)];
  const widths = TABLE_COLUMNS.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n') + '\n';
}

const CSV_COLUMNS = [
  'time', 'request_id', 'endpoint', 'decision', 'error', 'check', 'reason', 'idp', 'iss', 'sub', 'actor', 'policy', 'target',
  'namespace', 'scopes', 'ttl', 'jti', 'subject_token_sha256', 'client_ip', 'user_agent', 'latency_ms', 'context',
  'request_reason', 'redacted', 'v',
] as const;

function csvCell(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = Array.isArray(value) ? value.join(' ') : typeof value === 'object' ? JSON.stringify(value) : String(value);
  // RFC 4180 quoting; a leading = + - @ is prefixed so a spreadsheet never runs a cell as a formula.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function formatCsv(events: readonly AuditEvent[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const event of events) lines.push(CSV_COLUMNS.map((c) => csvCell((event as unknown as Record<string, unknown>)[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

function defaultDatabase(io: CliIo, configPath: string | undefined): string {
  const env = { ...io.env };
  if (configPath) {
    env.ARGO_STS_CONFIG_FILE = configPath;
    delete env.ARGO_STS_CONFIG;
  } else if (!env.ARGO_STS_CONFIG && !env.ARGO_STS_CONFIG_FILE) {
    return DEFAULT_AUDIT_DB;
  }
  let sink: string | undefined;
  try {
    sink = loadNodeConfig(env).audit.sink;
  } catch (err) {
    if (configPath || !(err instanceof ConfigError)) throw err;
    return DEFAULT_AUDIT_DB;
  }
  if (sink?.startsWith('sqlite:')) return sink.slice('sqlite:'.length);
  if (sink?.startsWith('d1:')) throw new UsageError(`audit.sink is ${sink}: query D1 with \`argo-sts audit --sql ... \` and \`wrangler d1 execute\` (docs/audit.md)`);
  return DEFAULT_AUDIT_DB;
}

export const audit: Command = {
  name: 'audit',
  summary: 'query the audit trail: who got which credentials, when, and why requests were refused',
  help: `Usage: argo-sts audit [--db PATH] [filters] [--format table|json|csv] [--sql]

Reads the SQLite audit trail (one row per /token decision and /diagnose call), oldest first.
  --db PATH          the database (default: audit.sink of --config / ARGO_STS_CONFIG(_FILE),
                     else ${DEFAULT_AUDIT_DB})
  --config FILE      take the database from this config's audit.sink
  --since WHEN       from WHEN on: a duration before now (90s, 15m, 1h, 7d) or an ISO 8601 time
  --until WHEN       before WHEN (same forms)
  --sub SUB          the subject: its sub (repo:acme/app:ref:refs/heads/main) or the minted form
                     (github:repo:...); * and ? glob
  --idp NAME         --policy ID      --namespace NS
  --decision D       issued | denied | diagnosed
  --repository R     GitHub repository or GitLab project path (acme/app; * and ? glob)
  --limit N          at most N rows
  --format F         table (default, for people), json (one JSON object per line), csv
  --sql              print the query for D1 (wrangler d1 execute DB --remote --command "...")
                     instead of running it

Who got credentials for namespace ci in the last hour:
  argo-sts audit --namespace ci --decision issued --since 1h`,
  async run(args, io) {
    const flags = parseFlags(args, {
      db: 'string', config: 'string', since: 'string', until: 'string', sub: 'string', idp: 'string', policy: 'string',
      decision: 'string', namespace: 'string', repository: 'string', limit: 'string', format: 'string', sql: 'boolean',
    });
    const format = (flags.format ?? 'table') as (typeof FORMATS)[number];
    if (!FORMATS.includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}`);
    if (flags.decision && !DECISIONS.includes(flags.decision as never)) throw new UsageError(`--decision must be one of ${DECISIONS.join(', ')}`);
    let limit: number | undefined;
    if (flags.limit !== undefined) {
      limit = Number(flags.limit);
      if (!Number.isSafeInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive integer');
    }
    const now = Date.now();
    const query = buildAuditQuery({
      since: flags.since === undefined ? undefined : parseTimeBound('since', flags.since, now),
      until: flags.until === undefined ? undefined : parseTimeBound('until', flags.until, now),
      sub: flags.sub, idp: flags.idp, policy: flags.policy, decision: flags.decision, namespace: flags.namespace,
      repository: flags.repository, limit,
    });
    if (flags.sql) {
      io.stdout(`${inlineAuditQuery(query)};\n`);
      return EXIT.ok;
    }
    const path = flags.db ?? defaultDatabase(io, flags.config);
    if (!existsSync(path)) {
      io.stderr(`argo-sts audit: no audit database at ${path} (set --db, or audit.sink: sqlite:PATH in the config)\n`);
      return EXIT.failed;
    }
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(path, { readOnly: true });
    let events: (AuditEvent & { id: number })[];
    try {
      db.exec('PRAGMA busy_timeout = 5000');
      events = (db.prepare(query.sql).all(...query.params) as Row[]).map(rowToEvent);
    } finally {
      db.close();
    }
    if (format === 'json') io.stdout(events.map((e) => `${JSON.stringify(e)}\n`).join(''));
    else if (format === 'csv') io.stdout(formatCsv(events));
    else io.stdout(events.length === 0 ? 'no matching audit events\n' : formatTable(events));
    return EXIT.ok;
  },
};
