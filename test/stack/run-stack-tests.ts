/**
 * `npm run test:stack`: brings the stack up, runs the stack suite against it, takes it down.
 * vitest's own results are printed (and, with CI set, written to .ci/stack-results.json).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const stack = (command: string) => spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'test/stack/stack.ts', command], { cwd: root, stdio: 'inherit' });

const started = Date.now();
const up = stack('up');
let status = up.status ?? 1;
if (status === 0) {
  const tests = spawnSync('npx', ['vitest', 'run', '--config', 'test/stack/vitest.config.ts', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
  status = tests.status ?? 1;
} else {
  process.stderr.write('test:stack: the stack did not come up; no stack test ran\n');
}
stack('down');
process.stderr.write(`test:stack: ${((Date.now() - started) / 1000).toFixed(0)} s in all\n`);
process.exit(status);
