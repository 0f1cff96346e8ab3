/**
 * The package's version, for `argo-sts --version`: read from the package.json above this module,
 * which is the checkout's own in a clone (cli/) and the installed package's in a tarball install
 * (lib/cli/), so the one number in package.json is the only copy.
 */
import { existsSync, readFileSync } from 'node:fs';

const PACKAGE_NAME = 'argo-sts';
/** cli/ → the root in a clone; lib/cli/ → lib/ → the root in an install. */
const MAX_LEVELS_UP = 3;

export function packageVersion(from: URL = new URL('.', import.meta.url)): string {
  let dir = from;
  for (let level = 0; level <= MAX_LEVELS_UP; level += 1) {
    const file = new URL('package.json', dir);
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === PACKAGE_NAME && typeof manifest.version === 'string') return manifest.version;
    }
    dir = new URL('../', dir);
  }
  throw new Error(`no package.json of ${PACKAGE_NAME} above ${from.pathname}`);
}
