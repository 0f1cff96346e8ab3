/**
 * `argo-sts audit` writes one query in two dialects: SQLite's (the file sink, and D1 through --sql)
 * and PostgreSQL's (the shared database of several replicas). The filters mean the same in both.
 */
import { describe, expect, it } from 'vitest';
import { buildAuditQuery, globToRegex } from '../../cli/commands/audit.ts';

const FILTERS = { since: '2026-11-01T00:00:00.000Z', sub: 'github:repo:acme/*', namespace: 'ci', repository: 'acme/app', limit: 10 };

describe('buildAuditQuery', () => {
  it('writes SQLite with ? placeholders, GLOB and json_extract', () => {
    expect(buildAuditQuery(FILTERS)).toEqual({
      sql: "SELECT * FROM audit_events WHERE time >= ? AND (sub GLOB ? OR idp || ':' || sub GLOB ?) AND namespace = ? AND " +
        "(json_extract(context, '$.repository') = ? OR json_extract(context, '$.project_path') = ?) ORDER BY time, id LIMIT ?",
      params: ['2026-11-01T00:00:00.000Z', 'github:repo:acme/*', 'github:repo:acme/*', 'ci', 'acme/app', 'acme/app', 10],
    });
  });

  it('writes PostgreSQL with numbered placeholders, anchored regular expressions for globs and JSONB fields', () => {
    expect(buildAuditQuery(FILTERS, 'postgres')).toEqual({
      sql: "SELECT * FROM audit_events WHERE time >= $1::timestamptz AND (sub ~ $2 OR idp || ':' || sub ~ $3) AND namespace = $4 AND " +
        "((context ->> 'repository') = $5 OR (context ->> 'project_path') = $6) ORDER BY time, id LIMIT $7",
      params: ['2026-11-01T00:00:00.000Z', '^github:repo:acme/.*$', '^github:repo:acme/.*$', 'ci', 'acme/app', 'acme/app', 10],
    });
  });
});

describe('globToRegex: SQLite GLOB as a PostgreSQL regular expression', () => {
  it.each([
    ['repo:acme/*', '^repo:acme/.*$'],
    ['a?c', '^a.c$'],
    ['[ab]pp', '^[ab]pp$'],
    ['[^x]y', '^[^x]y$'],
    ['a.b+c(d)|e$f^g{1}', '^a\\.b\\+c\\(d\\)\\|e\\$f\\^g\\{1\\}$'],
    ['back\\slash', '^back\\\\slash$'],
    ['[unclosed', '^\\[unclosed$'],
  ])('%s becomes %s', (glob, regex) => {
    expect(globToRegex(glob)).toBe(regex);
  });
});
