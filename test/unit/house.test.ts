/**
 * The house rules, read from the source tree: no import circle in shared/ or functions/ (type
 * imports count), no product file over 400 lines, and a top level of shared/ that holds only the
 * few cross-cutting modules (docs/architecture.md has the folder map).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PRODUCT = ['shared', 'functions', 'cli', 'client'];
const MAX_LINES = 400;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative module a file names: static and type imports, re-exports, dynamic imports. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
  return specifiers.map((s) => resolve(dirname(file), s));
}

/** The cycles of a directed graph (Tarjan's strongly connected components of size > 1 or self-loops). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indices.get(w)!));
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(component.map((f) => relative(ROOT, f)).sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return out;
}

describe('the house', () => {
  for (const folder of ['shared', 'functions']) {
    it(`has no import circle in ${folder}/, type imports included`, () => {
      const files = sourceFiles(join(ROOT, folder));
      const graph = new Map(files.map((f) => [f, importsOf(f)]));
      expect(cycles(graph)).toEqual([]);
    });
  }

  it('detects a circle when there is one (the check itself)', () => {
    const graph = new Map([['/a', ['/b']], ['/b', ['/c']], ['/c', ['/a']], ['/d', ['/a']]]);
    expect(cycles(graph)).toHaveLength(1);
  });

  it(`keeps every product file at ${MAX_LINES} lines or fewer`, () => {
    const long = PRODUCT.flatMap((folder) => sourceFiles(join(ROOT, folder)))
      .map((f) => ({ file: relative(ROOT, f), lines: readFileSync(f, 'utf8').split('\n').length }))
      .filter((f) => f.lines > MAX_LINES);
    expect(long).toEqual([]);
  });

  it('keeps only the cross-cutting modules at the top of shared/', () => {
    const top = readdirSync(join(ROOT, 'shared')).filter((name) => !statSync(join(ROOT, 'shared', name)).isDirectory());
    expect(top.sort()).toEqual(['checks.ts', 'errors.ts', 'oauth.ts', 'tsconfig.json']);
  });
});
