/**
 * `npm run build:js` (run by `prepack`): the TypeScript sources compiled to plain JavaScript in
 * lib/, for Node 22 and later with no TypeScript loader. The sources stay the truth; lib/ is a
 * build output (gitignored) that only the packed tarball carries.
 *
 * tsc (tsconfig.build.json, rewriteRelativeImportExtensions) rewrites import specifiers from .ts
 * to .js. A module URL built with `new URL('./x.ts', import.meta.url)` (a worker thread's file)
 * is a string tsc leaves alone, so this step rewrites those too, then refuses the build if any
 * relative .ts reference is left or a rewritten one names no emitted file.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const OUT = join(ROOT, 'lib');
const MODULE_URL = /new URL\((['"])(\.{1,2}\/[^'"\n]+)\.ts\1, import\.meta\.url\)/g;
const RELATIVE_TS = /(['"])\.{1,2}\/[^'"\n]*\.ts\1/;

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? jsFiles(path) : entry.name.endsWith('.js') ? [path] : [];
  });
}

rmSync(OUT, { recursive: true, force: true });
execFileSync('npx', ['--no-install', 'tsc', '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });

const problems: string[] = [];
const files = jsFiles(OUT);
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const rewritten = text.replace(MODULE_URL, (_match, quote: string, path: string) => {
    if (!existsSync(resolve(dirname(file), `${path}.js`))) problems.push(`${relative(ROOT, file)}: ${path}.js was not emitted`);
    return `new URL(${quote}${path}.js${quote}, import.meta.url)`;
  });
  const left = rewritten.split('\n').find((line) => RELATIVE_TS.test(line) && !/^\s*(\/\/|\*)/.test(line));
  if (left) problems.push(`${relative(ROOT, file)}: a relative .ts reference is left: ${left.trim()}`);
  if (rewritten !== text) writeFileSync(file, rewritten);
}
if (problems.length > 0) {
  process.stderr.write(`build:js: ${problems.join('\n')}\n`);
  process.exit(1);
}
process.stderr.write(`build:js: ${files.length} modules in ${relative(ROOT, OUT)}/\n`);
