/**
 * Child processes of a bench run: pinned to a core with `taskset` where the machine has it,
 * each in its own process group so that stopping one stops everything it started, and every
 * wait bounded.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

export const NODE = process.execPath;
export const NODE_FLAGS = ['--disable-warning=ExperimentalWarning'];

function tasksetWorks(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Server on core 0, load generator and bench driver on core 1, when there are two cores and taskset. */
export const PINNING = availableParallelism() >= 2 && tasksetWorks()
  ? { enabled: true, server: 0, load: 1 } as const
  : { enabled: false, server: 0, load: 0 } as const;

export function spawnPinned(core: number, command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const [cmd, argv] = PINNING.enabled ? ['taskset', ['-c', String(core), command, ...args]] : [command, [...args]];
  return spawn(cmd, argv, { detached: true, ...options });
}

/** Pins this process (the bench driver, which also serves the loopback IdP) to the load core. */
export function pinSelf(core: number): void {
  if (PINNING.enabled) execFileSync('taskset', ['-cp', String(core), String(process.pid)], { stdio: 'ignore' });
}

export function stopGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch { /* already gone */ }
      resolve();
    }, 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      process.kill(-child.pid!, signal);
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

/** Resolves with the first line of a stream that matches, or rejects after `ms` or at exit. */
export function waitForLine(child: ChildProcess, stream: 'stdout' | 'stderr', match: RegExp, ms: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => finish(new Error(`no line matching ${match} within ${ms} ms; output:\n${seen.slice(-2000)}`)), ms);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      for (const line of seen.split('\n')) {
        const m = match.exec(line);
        if (m) return finish(undefined, m);
      }
    };
    const onExit = (code: number | null) => finish(new Error(`process exited (${code}) before printing ${match}; output:\n${seen.slice(-2000)}`));
    child[stream]!.on('data', onData);
    child.once('exit', onExit);
    function finish(err?: Error, m?: RegExpExecArray) {
      clearTimeout(timer);
      child[stream]!.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m!);
    }
  });
}

/** Runs a bench script in its own pinned process and parses the one JSON line it prints. */
export async function runJsonScript<T>(core: number, script: string, input: unknown, ms: number): Promise<T> {
  const child = spawnPinned(core, NODE, [...NODE_FLAGS, script, JSON.stringify(input)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  try {
    const [line] = await waitForLine(child, 'stdout', /^\{.*\}$/, ms);
    return JSON.parse(line) as T;
  } catch (err) {
    throw new Error(`${script}: ${(err as Error).message}\n${stderr.slice(-2000)}`);
  } finally {
    await stopGroup(child);
  }
}

/** Resident set size of a process, in MiB (Linux /proc). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return Math.round((kb / 1024) * 10) / 10;
}


const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux architecture the bench runs on

/**
 * CPU time a process has used so far (user + system, all its threads), in seconds: throughput
 * per CPU-second holds when other tenants take the core away for a while; wall time does not.
 */
export function cpuSeconds(pid: number): number {
  return statCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** utime + stime of a /proc stat line, in seconds. */
function statCpuSeconds(stat: string): number {
  // Fields after the command name (which may contain spaces) start at the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** CPU seconds of each thread of a process, summed by thread name (`main`, `V8 DefaultWorke`, `libuv-worker`, …). */
export function cpuSecondsByThread(pid: number): Record<string, number> {
  const byName: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    byName[name] = (byName[name] ?? 0) + statCpuSeconds(stat);
  }
  return byName;
}

/** The lean reference broker (bench/support/lean-reference.ts) in its own pinned process. */
export async function startLeanReference(idpPublicJwk: unknown, auditFile: string, ms: number): Promise<{ child: ChildProcess; url: string }> {
  const child = spawnPinned(PINNING.server, NODE, [...NODE_FLAGS, fileURLToPath(new URL('./lean-reference.ts', import.meta.url)), auditFile], {
    env: { ...process.env, BENCH_IDP_JWK: JSON.stringify(idpPublicJwk) },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const [line] = await waitForLine(child, 'stdout', /^\{.*\}$/, ms);
  return { child, url: (JSON.parse(line) as { url: string }).url };
}
