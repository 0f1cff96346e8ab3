/**
 * The docs say what the repository does: they cite only files it has, name one Argo Workflows
 * version, and the audit columns a review step names are ones the command it gives prints.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatCsv } from '../../cli/commands/audit.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCS = ['README.md', ...readdirSync(`${ROOT}docs`).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const read = (path: string) => readFileSync(`${ROOT}${path}`, 'utf8');

describe('the docs', () => {
  it('cite no DESIGN.md (it is not in the repository): they point at README and docs/', () => {
    expect(DOCS.filter((path) => read(path).includes('DESIGN'))).toEqual([]);
  });

  it('name one Argo Workflows version, the one the manifests test against', () => {
    const versions = new Set<string>();
    for (const path of [...DOCS, 'test/support/validate-manifests.ts']) {
      for (const m of read(path).matchAll(/(?:argo-workflows(?:\/releases\/download\/)?|argoproj\/argocli:) ?(v\d+\.\d+\.\d+)/g)) versions.add(m[1]!);
    }
    expect([...versions]).toEqual(['v4.1.2']);
  });

  it("agents.md's audit review names columns its command prints", () => {
    const line = read('docs/agents.md').split('\n- ').find((l) => l.startsWith('Review with'))!;
    const command = /`(argo-sts audit [^`]+)`/.exec(line)![1]!;
    expect(command).toContain('--format csv');
    const header = formatCsv([]).trim().split(',');
    for (const column of [...line.matchAll(/`(\w+)`/g)].map((m) => m[1]!)) expect(header, column).toContain(column);
  });
});
