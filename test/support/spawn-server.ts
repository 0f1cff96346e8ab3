/**
 * Starts argo-sts the way an operator does — `npm start --silent` from the repository root — and
 * watches it: stderr for the "serving" line (and everything else, for leak checks), stdout for
 * the audit JSON lines. npm runs the server as its child, so the command gets its own process
 * group and `stop()` signals the whole group, then waits until no member is left.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Upper bounds for waiting on the child; generous, since they only bound a failure. */
export const SPAWN_LIMITS = {
  startMs: 30_000,
  stopMs: 10_000,
  auditLineMs: 5_000,
} as const;

/**
 * The env `npm start` needs to serve `configPath` on a free loopback port (PORT 0, HOST
 * 127.0.0.1), plus `extra` (the signing keys the config refers to, say).
 */
export function loopbackServerEnv(configPath: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ARGO_STS_CONFIG_FILE: configPath, PORT: '0', HOST: '127.0.0.1', ...extra };
}

export interface ServerOutput {
  /** Complete lines written so far (a trailing partial line is held back until its newline). */
  readonly stdout: readonly string[];
  readonly stderr: readonly string[];
}

export interface SpawnedServer extends ServerOutput {
  /** `http://127.0.0.1:<port>` as the server printed it. */
  readonly url: string;
  /** The issuer the server says it serves. */
  readonly issuer: string;
  readonly pid: number;
  /** stdout lines parsed as JSON objects; a line that is not JSON throws. */
  jsonLines(): Record<string, unknown>[];
  /** Resolves with the audit lines for a request once at least one has arrived. */
  waitForAudit(requestId: string): Promise<Record<string, unknown>[]>;
  /** SIGTERM to the process group; resolves with npm's exit code once no process of the group is left. */
  stop(): Promise<number | null>;
}

export interface ExitedServer extends ServerOutput {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

function startNpm(env: Record<string, string>) {
  return startProcessGroup('npm', ['start', '--silent'], env);
}

/**
 * Runs `command` from the repository root in its own process group (npm and what it starts are
 * signalled together), collecting stdout and stderr lines; SIGKILLs the group if the test
 * process exits first.
 */
export function startProcessGroup(command: string, args: readonly string[], env: Record<string, string>) {
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: npm and the node it starts are signalled together
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  collectLines(child, 'stdout', stdout);
  collectLines(child, 'stderr', stderr);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  // If the test process dies first, do not leave the server behind.
  const killOnExit = () => signalGroup(child.pid, 'SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));
  return { child, stdout, stderr, exited };
}

function collectLines(child: ChildProcess, stream: 'stdout' | 'stderr', lines: string[]): void {
  let pending = '';
  child[stream]!.setEncoding('utf8');
  child[stream]!.on('data', (chunk: string) => {
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop()!;
    lines.push(...parts);
  });
  child[stream]!.on('end', () => {
    if (pending) lines.push(pending);
    pending = '';
  });
}

export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // ESRCH: no process left in the group
  }
}

/** Whether any process of the process group `pid` leads is still alive (signal 0 probes it). */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Resolves with the first line of `lines` that matches `pattern`; rejects (and SIGKILLs the
 * group) when the process exits first or `timeoutMs` passes, with what it wrote.
 */
export function waitForLine(options: {
  pid: number;
  /** The output to search, read on every poll. */
  lines: () => readonly string[];
  exited: Promise<{ code: number | null; signal?: NodeJS.Signals | null }>;
  pattern: RegExp;
  name: string;
  timeoutMs: number;
}): Promise<RegExpExecArray> {
  const { pid, lines, exited, pattern, name, timeoutMs } = options;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`${name} did not start within ${timeoutMs} ms; output:\n${lines().join('\n')}`)), timeoutMs);
    const poll = setInterval(() => {
      const match = lines().map((line) => pattern.exec(line)).find(Boolean);
      if (match) done(undefined, match);
    }, 20);
    void exited.then(({ code, signal }) => done(new Error(`${name} exited (code ${code}, signal ${signal ?? null}) before it was ready; output:\n${lines().join('\n')}`)));
    function done(err?: Error, value?: RegExpExecArray) {
      clearTimeout(timer);
      clearInterval(poll);
      if (err) {
        signalGroup(pid, 'SIGKILL');
        reject(err);
      } else resolve(value!);
    }
  });
}

/** Spawns `npm start --silent` and resolves once the server prints its "serving" line. */
export async function spawnServer(env: Record<string, string>): Promise<SpawnedServer> {
  const { child, stdout, stderr, exited } = startNpm(env);
  const pid = child.pid!;
  const serving = /^argo-sts: serving (\S+) on (http:\/\/\S+)$/;

  const match = await waitForLine({ pid, lines: () => stderr, exited, pattern: serving, name: 'argo-sts', timeoutMs: SPAWN_LIMITS.startMs });
  const started = { issuer: match[1]!, url: match[2]! };

  const jsonLines = () => stdout.map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    ...started,
    pid,
    stdout,
    stderr,
    jsonLines,
    async waitForAudit(requestId) {
      const deadline = Date.now() + SPAWN_LIMITS.auditLineMs;
      for (;;) {
        const found = jsonLines().filter((line) => line.type === 'audit' && line.request_id === requestId);
        if (found.length > 0 || Date.now() > deadline) return found;
        await sleep(10);
      }
    },
    stop: () => stopProcessGroup(pid, exited),
  };
}

/** SIGTERM to the group; resolves with the leader's exit code once no member is left (else SIGKILL and throw). */
export async function stopProcessGroup(pid: number, exited: Promise<{ code: number | null }>): Promise<number | null> {
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + SPAWN_LIMITS.stopMs;
  const { code } = await Promise.race([exited, sleep(SPAWN_LIMITS.stopMs).then(() => ({ code: null }))]);
  while (groupAlive(pid)) {
    if (Date.now() > deadline) {
      signalGroup(pid, 'SIGKILL');
      throw new Error(`process group ${pid} did not stop within ${SPAWN_LIMITS.stopMs} ms of SIGTERM`);
    }
    await sleep(20);
  }
  return code;
}

/** Spawns `npm start --silent` for a start-up that is expected to fail, and waits for the exit. */
export async function spawnServerToExit(env: Record<string, string>): Promise<ExitedServer> {
  const { child, stdout, stderr, exited } = startNpm(env);
  const timer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), SPAWN_LIMITS.startMs);
  const { code, signal } = await exited;
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}
