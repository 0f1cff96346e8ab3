/**
 * The package as a user gets it: `npm pack` (which runs `prepack`, the build to plain JavaScript),
 * the tarball installed into an empty folder outside the checkout, and Node runtimes other than
 * the project's own to run it with.
 *
 * The install is offline: the folder gets a package-lock.json made of the tarball and the
 * checkout's own lock entries for the runtime dependencies (the dev ones left out), so `npm ci
 * --offline` takes exactly the locked versions from the npm cache that the checkout's `npm ci`
 * filled, and the test needs no network. Node 22 comes from the npm registry's `node` package,
 * installed once into .cache/node-runtimes/ (gitignored) and reused by later runs.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNTIMES = join(REPO_ROOT, '.cache', 'node-runtimes');
const exec = promisify(execFile);
/** The cache the checkout's `npm ci` filled (npm sets npm_config_cache for the scripts it runs). */
const NPM_CACHE = process.env.npm_config_cache ?? join(homedir(), '.npm');

/** Upper bounds for the slow steps; they only bound a failure (the usual times are a third of these). */
export const INSTALL_LIMITS = {
  packMs: 120_000,
  runtimeDownloadMs: 180_000,
  installMs: 120_000,
} as const;

export interface NodeRuntime {
  readonly version: string;
  /** The folder holding the `node` binary: put first on PATH, `#!/usr/bin/env node` finds it. */
  readonly binDir: string;
}

/** The Node 24 of the `node` devDependency, which runs the tests themselves. */
export function projectRuntime(): NodeRuntime {
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/node/package.json'), 'utf8')) as { version: string };
  return { version: manifest.version, binDir: join(REPO_ROOT, 'node_modules/node/bin') };
}

/**
 * Node `version` from the npm registry's `node` package, cached under .cache/node-runtimes/.
 * Installed into a scratch folder and renamed into place, so an interrupted download is never
 * taken for a cached runtime.
 */
export async function registryRuntime(version: string): Promise<NodeRuntime> {
  const home = join(RUNTIMES, version);
  const binDir = join(home, 'node_modules/node/bin');
  if (!existsSync(join(binDir, 'node'))) {
    await mkdir(RUNTIMES, { recursive: true });
    const scratch = await mkdtemp(join(RUNTIMES, `.${version}-`));
    await writeFile(join(scratch, 'package.json'), '{"private": true}\n');
    await exec('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', scratch, `node@${version}`], {
      cwd: scratch,
      timeout: INSTALL_LIMITS.runtimeDownloadMs,
    });
    await rm(home, { recursive: true, force: true });
    await rename(scratch, home);
  }
  const { stdout } = await exec(join(binDir, 'node'), ['--version']);
  if (stdout.trim() !== `v${version}`) throw new Error(`${binDir}/node is ${stdout.trim()}, not v${version}`);
  return { version, binDir };
}

/** `npm pack` of the checkout into `dir`; returns the tarball's path. */
export async function packTarball(dir: string): Promise<string> {
  const { stdout } = await exec('npm', ['pack', '--silent', '--pack-destination', dir], {
    cwd: REPO_ROOT,
    timeout: INSTALL_LIMITS.packMs,
  });
  const name = stdout.trim().split('\n').pop()!;
  return join(dir, name);
}

interface LockEntry {
  readonly dev?: boolean;
  readonly [field: string]: unknown;
}

/**
 * Installs `tarball` into the empty folder `prefix` with `npm ci --offline`, npm itself running
 * on `runtime`. Returns the installed `argo-sts` command (npm's link into node_modules/.bin).
 */
export async function installTarball(tarball: string, prefix: string, runtime: NodeRuntime): Promise<string> {
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Record<string, any>;
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  await mkdir(prefix, { recursive: true });
  if ((await readdir(prefix)).length > 0) throw new Error(`${prefix} is not empty`);
  const spec = `file:${basename(tarball)}`;
  await copyFile(tarball, join(prefix, basename(tarball)));
  const packages: Record<string, unknown> = {
    '': { name: 'argo-sts-install', dependencies: { 'argo-sts': spec } },
    'node_modules/argo-sts': {
      version: manifest.version, resolved: spec, license: manifest.license,
      dependencies: manifest.dependencies, bin: manifest.bin, engines: manifest.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && !entry.dev) packages[path] = entry;
  await writeFile(join(prefix, 'package.json'), JSON.stringify({ name: 'argo-sts-install', private: true, dependencies: { 'argo-sts': spec } }));
  await writeFile(join(prefix, 'package-lock.json'), JSON.stringify({ name: 'argo-sts-install', lockfileVersion: 3, requires: true, packages }));
  await exec('npm', ['ci', '--offline', '--no-audit', '--no-fund'], {
    cwd: prefix,
    env: cleanEnv(runtime, prefix),
    timeout: INSTALL_LIMITS.installMs,
  });
  return join(prefix, 'node_modules/.bin/argo-sts');
}

/**
 * An environment with nothing of the checkout in it: `runtime` first on PATH, then the system
 * folders (for npm and /usr/bin/env), no NODE_OPTIONS (so no loader), HOME in `home`.
 */
export function cleanEnv(runtime: NodeRuntime, home: string, extra: Record<string, string> = {}): Record<string, string> {
  const system = (process.env.PATH ?? '').split(':').filter((dir) => dir && !dir.startsWith(REPO_ROOT) && !dir.includes('node_modules'));
  return { PATH: [runtime.binDir, ...system].join(':'), HOME: home, npm_config_cache: NPM_CACHE, ...extra };
}
