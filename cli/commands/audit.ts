/**
 * `argo-sts audit`: reads the audit trail from SQLite (`--db`) or PostgreSQL (`--database REF`, or a
 * config whose audit.sink is postgres). Filters become one parameterized SELECT in either dialect;
 * `--sql` prints the SQLite query with its values inlined, to run against D1 with `wrangler d1 execute`.
 */
import { existsSync } from 'node:fs';
import { type AuditEvent, escapeUnsafeText } from '../../shared/audit/audit-event.ts';
import { ConfigError } from '../../shared/config/parse-config.ts';
import { parseDuration } from '../../shared/config/duration.ts';
import { loadNodeConfig } from '../../functions/node/config-source.ts';
import { nodeSecretStore } from '../../functions/node/secrets.ts';
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

/** Which SQL the query is written in: SQLite's (and D1's) or PostgreSQL's. */
export type AuditDialect = 'sqlite' | 'postgres';

/**
 * The SELECT for a set of filters, oldest first. `sub` and `repository` take a glob (`*`, `?`,
 * `[...]`) when they contain one; `repository` matches GitHub's `repository` and GitLab's
 * `project_path`. On PostgreSQL a glob becomes an anchored regular expression and `context` is JSONB.
 */
export function buildAuditQuery(filters: AuditFilters, dialect: AuditDialect = 'sqlite'): AuditQuery {
  const pg = dialect === 'postgres';
  const where: string[] = [];
  const params: (string | number)[] = [];
  // `?` placeholders; PostgreSQL's are numbered, so each `?` becomes the next `$n`.
  const add = (clause: string, ...values: (string | number)[]) => {
    where.push(pg ? clause.replace(/\?/g, () => `$${params.push(values.shift()!)}`) : clause);
    if (!pg) params.push(...values);
  };
  const isGlob = (value: string) => /[*?[]/.test(value);
  const matches = (column: string, value: string) => (!isGlob(value) ? `${column} = ?` : pg ? `${column} ~ ?` : `${column} GLOB ?`);
  const pattern = (value: string) => (pg && isGlob(value) ? globToRegex(value) : value);
  const time = pg ? '?::timestamptz' : '?';
  if (filters.since) add(`time >= ${time}`, filters.since);
  if (filters.until) add(`time < ${time}`, filters.until);
  if (filters.sub) {
    // The stored sub is the subject token's; accept the minted form "<idp>:<sub>" too.
    add(`(${matches('sub', filters.sub)} OR ${matches("idp || ':' || sub", filters.sub)})`, pattern(filters.sub), pattern(filters.sub));
  }
  if (filters.idp) add('idp = ?', filters.idp);
  if (filters.policy) add('policy = ?', filters.policy);
  if (filters.decision) add('decision = ?', filters.decision);
  if (filters.namespace) add('namespace = ?', filters.namespace);
  if (filters.repository) {
    const repo = pattern(filters.repository);
    const field = (name: string) => (pg ? `(context ->> '${name}')` : `json_extract(context, '$.${name}')`);
    add(`(${matches(field('repository'), filters.repository)} OR ${matches(field('project_path'), filters.repository)})`, repo, repo);
  }
  let sql = 'SELECT * FROM audit_events';
  if (where.length > 0) sql += ` WHERE ${where.join(' AND ')}`;
  sql += ' ORDER BY time, id';
  if (filters.limit !== undefined) {
    params.push(filters.limit);
    sql += pg ? ` LIMIT $${params.length}` : ' LIMIT ?';
  }
  return { sql, params };
}

/** SQLite's GLOB (`*`, `?`, `[...]`, `[^...]`, case-sensitive) as an anchored PostgreSQL regular expression. */
export function globToRegex(glob: string): string {
  let out = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const negate = glob[i + 1] === '^';
      const from = i + (negate ? 2 : 1);
      const end = glob.indexOf(']', from + 1); // a ']' first in the class is a member, as in GLOB
      if (end === -1) {
        out += '\\[';
        continue;
      }
      out += `[${negate ? '^' : ''}${glob.slice(from, end).replace(/[\\[\]]/g, '\\$&')}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return `${out}$`;
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

type Row = Record<string, string | number | Uint8Array | null>;

/**
 * The query with every TEXT column read as its bytes: node:sqlite cuts a text value at its first
 * NUL, so a stored `sub` with one would come back short. rowToEvent decodes the bytes as UTF-8.
 */
function exactTextQuery(db: { prepare(sql: string): { all(): unknown[] } }, sql: string): string {
  const columns = db.prepare('PRAGMA table_info(audit_events)').all() as { name: string; type: string }[];
  const list = columns.map(({ name, type }) => (/TEXT/i.test(type) ? `CAST("${name}" AS BLOB) AS "${name}"` : `"${name}"`));
  return sql.replace(/^SELECT \*/, `SELECT ${list.join(', ')}`);
}

const utf8 = new TextDecoder();

/** A stored row back in the event's shape (scopes as a list, context as an object). */
export function rowToEvent(raw: Row): AuditEvent & { id: number } {
  const out: Record<string, unknown> = {};
  for (const [key, stored] of Object.entries(raw)) {
    if (stored === null) continue;
    const value = stored instanceof Uint8Array ? utf8.decode(stored) : stored;
    if (key === 'check_id') out.check = value;
    else if (key === 'scopes' || key === 'redacted') out[key] = String(value).split(' ').filter(Boolean);
    else if (key === 'context' || key === 'actor_chain') out[key] = JSON.parse(String(value));
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
  const rows = [[...TABLE_COLUMNS] as string[], ...events.map((e) => tableCells(e).map(escapeUnsafeText))];
  const widths = TABLE_COLUMNS.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n') + '\n';
}

const CSV_COLUMNS = [
  'time', 'request_id', 'endpoint', 'decision', 'error', 'check', 'reason', 'idp', 'iss', 'sub', 'actor', 'policy', 'target',
  'namespace', 'scopes', 'ttl', 'jti', 'subject_token_sha256', 'client_ip', 'user_agent', 'latency_ms', 'context',
  'request_reason', 'actor_chain', 'approval_id', 'redacted', 'v',
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

/** Where the rows are: a SQLite file, or the PostgreSQL database behind a secret reference. */
type AuditSource = { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres'; readonly ref: string };

function configuredSource(io: CliIo, configPath: string | undefined): AuditSource {
  const fallback: AuditSource = { kind: 'sqlite', path: DEFAULT_AUDIT_DB };
  const env = { ...io.env };
  if (configPath) {
    env.ARGO_STS_CONFIG_FILE = configPath;
    delete env.ARGO_STS_CONFIG;
  } else if (!env.ARGO_STS_CONFIG && !env.ARGO_STS_CONFIG_FILE) {
    return fallback;
  }
  let config;
  try {
    config = loadNodeConfig(env);
  } catch (err) {
    if (configPath || !(err instanceof ConfigError)) throw err;
    return fallback;
  }
  const sink = config.audit.sink;
  if (sink?.startsWith('sqlite:')) return { kind: 'sqlite', path: sink.slice('sqlite:'.length) };
  if (sink === 'postgres' && config.database) return { kind: 'postgres', ref: config.database };
  if (sink?.startsWith('d1:')) throw new UsageError(`audit.sink is ${sink}: query D1 with \`argo-sts audit --sql ... \` and \`wrangler d1 execute\` (docs/audit.md)`);
  return fallback;
}

async function readRows(source: AuditSource, io: CliIo, filters: AuditFilters): Promise<Row[] | undefined> {
  if (source.kind === 'postgres') {
    const url = await nodeSecretStore(io.env).resolve(source.ref);
    const { readPostgresAudit } = await import('../../functions/node/postgres/read-audit.ts');
    const query = buildAuditQuery(filters, 'postgres');
    return readPostgresAudit(url, query.sql, query.params);
  }
  if (!existsSync(source.path)) {
    io.stderr(`argo-sts audit: no audit database at ${source.path} (set --db, or audit.sink: sqlite:PATH in the config)\n`);
    return undefined;
  }
  const query = buildAuditQuery(filters);
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(source.path, { readOnly: true });
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    // node:sqlite cuts text at a NUL: exactTextQuery reads text columns as bytes, so a stored value comes back whole.
    return db.prepare(exactTextQuery(db, query.sql)).all(...query.params) as Row[];
  } finally {
    db.close();
  }
}

export const audit: Command = {
  name: 'audit',
  summary: 'query the audit trail: who got which credentials, when, and why requests were refused',
  help: `Usage: argo-sts audit [--db PATH | --database REF] [filters] [--format table|json|csv] [--sql]

Reads the audit trail (one row per /token decision and /diagnose call), oldest first, from SQLite
or PostgreSQL.
  --db PATH          a SQLite database (default: audit.sink of --config / ARGO_STS_CONFIG(_FILE),
                     else ${DEFAULT_AUDIT_DB})
  --database REF     a PostgreSQL database: a secret reference to its postgres:// URL
                     (env:NAME, file:PATH, aws-secrets-manager:ID[#key]), as the config's database
  --config FILE      take the database from this config's audit.sink (sqlite:PATH, or postgres
                     and its database)
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
      db: 'string', database: 'string', config: 'string', since: 'string', until: 'string', sub: 'string', idp: 'string', policy: 'string',
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
    if (flags.db !== undefined && flags.database !== undefined) throw new UsageError('--db (SQLite) and --database (PostgreSQL) name two databases: give one');
    const now = Date.now();
    const filters: AuditFilters = {
      since: flags.since === undefined ? undefined : parseTimeBound('since', flags.since, now),
      until: flags.until === undefined ? undefined : parseTimeBound('until', flags.until, now),
      sub: flags.sub, idp: flags.idp, policy: flags.policy, decision: flags.decision, namespace: flags.namespace,
      repository: flags.repository, limit,
    };
    if (flags.sql) {
      io.stdout(`${inlineAuditQuery(buildAuditQuery(filters))};\n`);
      return EXIT.ok;
    }
    const source: AuditSource = flags.database !== undefined
      ? { kind: 'postgres', ref: flags.database }
      : flags.db !== undefined ? { kind: 'sqlite', path: flags.db } : configuredSource(io, flags.config);
    const rows = await readRows(source, io, filters);
    if (rows === undefined) return EXIT.failed;
    const events = rows.map(rowToEvent);
    if (format === 'json') io.stdout(events.map((e) => `${escapeUnsafeText(JSON.stringify(e))}\n`).join(''));
    else if (format === 'csv') io.stdout(formatCsv(events));
    else io.stdout(events.length === 0 ? 'no matching audit events\n' : formatTable(events));
    return EXIT.ok;
  },
};
