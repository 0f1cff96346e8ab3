/**
 * The packed package, installed and run as a user runs it: `npm pack` (the build to plain
 * JavaScript in prepack), the tarball installed into an empty folder, and `argo-sts --version`,
 * `serve`, `exchange`, `kubectl credential` and `mcp` run from outside the checkout on Node 22 and
 * on Node 24, each first on PATH, with no TypeScript loader and nothing of the checkout in the
 * environment. Only loopback: a loopback IdP, the installed broker, and its clients.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { githubViewConfig } from '../support/in-process-broker.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { cleanEnv, INSTALL_LIMITS, installTarball, type NodeRuntime, packTarball, projectRuntime, REPO_ROOT, registryRuntime } from '../support/packed-install.ts';

/** The newest Node 22 (the oldest LTS line the package supports) when this test was written. */
const NODE_22 = '22.23.3';
const SERVER_START_MS = 30_000;
const SERVER_STOP_MS = 10_000;
const exec = promisify(execFile);
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Installed {
  readonly runtime: NodeRuntime;
  /** An empty home outside the checkout: the cwd and HOME of every command. */
  readonly home: string;
  readonly argoSts: string;
  readonly packageDir: string;
}

let work: string;
let idp: LoopbackIdp;
const installs = new Map<string, Installed>();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'argo-sts-install-'));
  idp = await startLoopbackIdp();
  const runtimes = [await registryRuntime(NODE_22), projectRuntime()];
  const tarball = await packTarball(work);
  for (const runtime of runtimes) {
    const prefix = join(work, `prefix-${runtime.version}`);
    const home = join(work, `home-${runtime.version}`);
    await mkdir(home);
    const argoSts = await installTarball(tarball, prefix, runtime);
    installs.set(runtime.version.split('.')[0]!, { runtime, home, argoSts, packageDir: join(prefix, 'node_modules/argo-sts') });
  }
}, INSTALL_LIMITS.packMs + INSTALL_LIMITS.runtimeDownloadMs + INSTALL_LIMITS.installMs * 2);

afterAll(async () => {
  await idp?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** The package's own files (its node_modules, if any, left out), relative to `root`. */
function filesUnder(root: string, dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.name === 'node_modules') return [];
    return entry.isDirectory() ? filesUnder(root, path) : [relative(root, path)];
  });
}

function run(install: Installed, args: string[], extraEnv: Record<string, string> = {}) {
  return exec(install.argoSts, args, { cwd: install.home, env: cleanEnv(install.runtime, install.home, extraEnv), timeout: 30_000 });
}

interface Served {
  readonly url: string;
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  readonly exited: Promise<number | null>;
}

async function serve(install: Installed, configFile: string): Promise<Served> {
  const child = spawn(install.argoSts, ['serve', '--config', configFile, '--host', '127.0.0.1', '--port', '0'], {
    cwd: install.home,
    env: cleanEnv(install.runtime, install.home),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => stdout.push(...chunk.split('\n').filter(Boolean)));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(...chunk.split('\n').filter(Boolean)));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => {
    process.off('exit', killOnExit);
    resolve(code);
  }));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`argo-sts serve did not start within ${SERVER_START_MS} ms; stderr:\n${stderr.join('\n')}`)), SERVER_START_MS);
    const poll = setInterval(() => {
      const match = stderr.map((line) => /^argo-sts: serving \S+ on (http:\/\/\S+)$/.exec(line)).find(Boolean);
      if (match) finish(undefined, match[1]);
    }, 20);
    void exited.then((code) => finish(new Error(`argo-sts serve exited (${code}) before serving; stderr:\n${stderr.join('\n')}`)));
    function finish(err?: Error, value?: string) {
      clearTimeout(timer);
      clearInterval(poll);
      if (err) {
        child.kill('SIGKILL');
        reject(err);
      } else resolve(value!);
    }
  });
  return { url, child, stdout, stderr, exited };
}

/** The smallest broker (one GitHub idp, `ci-view`), with its audit trail in SQLite in `dir`. */
function configFor(dir: string): string {
  return `${githubViewConfig(idp.issuer)}audit: { sink: "sqlite:${join(dir, 'audit.db')}" }\n`;
}

describe.each(['22', '24'])('the installed package on Node %s', (major) => {
  let install: Installed;
  let served: Served;
  let tokenFile: string;
  let dir: string;

  beforeAll(async () => {
    install = installs.get(major)!;
    dir = await mkdtemp(join(work, `run-${major}-`));
    await writeFile(join(dir, 'argo-sts.yaml'), configFor(dir));
    tokenFile = join(dir, 'id_token');
    await writeFile(tokenFile, await idp.sign(fixtureClaims('github-actions', Math.floor(Date.now() / 1000), { iss: idp.issuer })));
    served = await serve(install, join(dir, 'argo-sts.yaml'));
  }, SERVER_START_MS + 5_000);

  afterAll(() => {
    if (served?.child.exitCode === null) served.child.kill('SIGKILL');
  });

  it(`runs on Node ${major}, from JavaScript only: no TypeScript file is installed`, () => {
    expect(install.runtime.version.split('.')[0]).toBe(major);
    expect(realpathSync(readlinkSync(`/proc/${served.child.pid}/exe`))).toBe(realpathSync(join(install.runtime.binDir, 'node')));
    const files = filesUnder(install.packageDir);
    expect(files).toContain('lib/cli/argo-sts.js');
    expect(files.filter((file) => file.endsWith('.ts'))).toEqual([]);
    // The bin's warning flag reaches the server: no "SQLite is an experimental feature" notice.
    expect(served.stderr.filter((line) => /Warning/.test(line))).toEqual([]);
  });

  it('prints the package version', async () => {
    const { stdout } = await run(install, ['--version']);
    expect(stdout).toBe(`${VERSION}\n`);
  });

  it('serves health, discovery and an exchange whose audit row is in SQLite', async () => {
    expect((await fetch(`${served.url}/healthz`)).status).toBe(200);
    const discovery = (await (await fetch(`${served.url}/.well-known/openid-configuration`)).json()) as { issuer: string };
    expect(discovery.issuer).toBe('http://127.0.0.1/sts');
    const response = await fetch(`${served.url}/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
        subject_token: readFileSync(tokenFile, 'utf8'),
        audience: 'argo-prod', scope: 'k8s:view', namespace: 'ci',
      }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { access_token: string; scope: string };
    expect(body.scope).toBe('k8s:view');
    const { payload } = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(`${served.url}/.well-known/jwks.json`)), { issuer: 'http://127.0.0.1/sts', audience: 'kubernetes' });
    const db = new DatabaseSync(join(dir, 'audit.db'), { readOnly: true });
    try {
      expect(db.prepare('SELECT decision FROM audit_events WHERE jti = ?').all(payload.jti as string)).toEqual([{ decision: 'issued' }]);
    } finally {
      db.close();
    }
  });

  it('exchanges with `argo-sts exchange`', async () => {
    const { stdout } = await run(install, ['exchange', '--broker', served.url, '--audience', 'argo-prod', '--scope', 'k8s:view', '--token-file', tokenFile, '--json']);
    const credential = JSON.parse(stdout) as { access_token?: unknown; namespace?: unknown; scope?: unknown };
    expect(typeof credential.access_token === 'string' && credential.access_token.startsWith('eyJ')).toBe(true);
    expect({ namespace: credential.namespace, scope: credential.scope }).toEqual({ namespace: 'ci', scope: 'k8s:view' });
  });

  it('answers kubectl as `argo-sts kubectl credential`', async () => {
    const { stdout } = await run(install, ['kubectl', 'credential', '--broker', served.url, '--audience', 'argo-prod', '--scope', 'k8s:view', '--token-file', tokenFile], { XDG_CACHE_HOME: join(dir, 'cache') });
    const credential = JSON.parse(stdout) as { apiVersion: string; kind: string; status?: { token?: unknown; expirationTimestamp?: unknown } };
    expect({ apiVersion: credential.apiVersion, kind: credential.kind }).toEqual({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential' });
    expect(typeof credential.status?.token === 'string' && credential.status.token.startsWith('eyJ')).toBe(true);
    expect(typeof credential.status?.expirationTimestamp).toBe('string');
  });

  it('speaks MCP over stdio as `argo-sts mcp`', async () => {
    const client = new Client({ name: 'install-test', version: '1.0.0' });
    await client.connect(new StdioClientTransport({
      command: install.argoSts,
      args: ['mcp', '--broker', served.url, '--token-file', tokenFile],
      cwd: install.home,
      env: cleanEnv(install.runtime, install.home),
      stderr: 'pipe',
    }));
    try {
      expect(client.getServerVersion()).toEqual({ name: 'argo-sts', version: VERSION });
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name)).toEqual(expect.arrayContaining(['diagnose_token', 'request_argo_credentials']));
    } finally {
      await client.close();
    }
  });

  it('says that the demo needs a clone, with exit code 1', async () => {
    const failed = await run(install, ['demo']).then(() => undefined, (err: { code: number; stderr: string }) => err);
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/^argo-sts demo: the demo runs in a clone of the repository \(npm ci && npm run demo\)/);
  });

  it('stops on SIGTERM with exit code 0', async () => {
    served.child.kill('SIGTERM');
    const code = await Promise.race([served.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), SERVER_STOP_MS))]);
    expect(code).toBe(0);
  });
});

/**
 * The Dockerfile's image is this install under /opt/argo-sts: its build stage packs and extracts
 * the same tarball and runs `npm ci --omit=dev` on the same lock. Read from the Dockerfile itself:
 * the runtime stage runs nothing at build time (so it gets no npm), runs as a numeric non-root
 * user, and its ENTRYPOINT, mapped onto this install, starts the CLI.
 */
describe('the Dockerfile', () => {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const instructions = text.split('\n').filter((line) => line.trim() && !line.startsWith('#')).map((line) => {
    const [keyword, ...rest] = line.trim().split(/\s+/);
    return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
  });
  const stages = instructions.reduce<{ keyword: string; args: string }[][]>((all, instruction) => {
    if (instruction.keyword === 'FROM') all.push([]);
    all.at(-1)?.push(instruction);
    return all;
  }, []);
  const runtime = stages.at(-1)!;
  const arg = (name: string) => runtime.find((i) => i.keyword === name)?.args;

  it('builds in one stage and runs from another that has no RUN step, as a non-root user', () => {
    expect(stages.length).toBe(2);
    expect(stages[0]![0]!.args).toMatch(/ AS build$/);
    expect(runtime.map((i) => i.keyword).filter((keyword) => keyword === 'RUN')).toEqual([]);
    expect(runtime.filter((i) => i.keyword === 'COPY').every((i) => i.args.startsWith('--from=build '))).toBe(true);
    expect(arg('USER')).toMatch(/^[1-9][0-9]*:[1-9][0-9]*$/);
    expect(stages[0]!.map((i) => i.args).join('\n')).toMatch(/npm pack[\s\S]*tar -xzf \S+ -C \/opt\/argo-sts[\s\S]*npm ci --omit=dev/);
  });

  it('has an ENTRYPOINT that starts the CLI of the installed package and a CMD that serves', async () => {
    const entrypoint = JSON.parse(arg('ENTRYPOINT')!) as string[];
    const cmd = JSON.parse(arg('CMD')!) as string[];
    expect(cmd.slice(0, 2)).toEqual(['serve', '--config']);
    const [node, ...nodeArgs] = entrypoint;
    expect(node).toBe('/nodejs/bin/node');
    const install = installs.get('24')!;
    const mapped = nodeArgs.map((a) => a.replace(/^\/opt\/argo-sts\//, `${install.packageDir}/`));
    expect(mapped.at(-1)).not.toBe(nodeArgs.at(-1));
    const { stdout } = await exec(join(install.runtime.binDir, 'node'), [...mapped, '--version'], { cwd: install.home, env: cleanEnv(install.runtime, install.home) });
    expect(stdout).toBe(`${VERSION}\n`);
  });
});
