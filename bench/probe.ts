/**
 * A quick A/B probe for one change, not the full bench: argo-sts servers started from one or more
 * source trees (e.g. this checkout and a `git worktree` of the commit before a change), warmed up,
 * then in interleaved rounds: full load (exchanges per CPU-second) and the paced half-load loop
 * (p50/p99 from each request's due time). Prints one JSON line per round and a median summary.
 *
 *   npx node bench/probe.ts [TREE ...]     # default: this checkout
 *
 * The tree `lean` stands for the lean reference broker (bench/support/lean-reference.ts), so
 * `npx node bench/probe.ts . lean` gives the issue's ratio in one quick run.
 *
 * Environment: PROBE_RATE (paced rate, default 1800/s), PROBE_ROUNDS (default 3), PROBE_SINK=0
 * (no durable sink), PROBE_FLAGS (extra node flags for the servers, space-separated, e.g.
 * "--trace-gc"), PROBE_STDOUT_DIR (keep each server's stdout — audit lines, --trace-gc output — in
 * DIR/stdout-<n>.log).
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { generatePrivateJwks } from '../shared/keys/signing-keys.ts';
import { startLoopbackIdp, type LoopbackIdp } from '../test/support/loopback-idp.ts';
import type { LoadResult, LoadSpec } from './load.ts';
import { cpuSeconds, cpuSecondsByThread, rssMiB, startLeanReference, NODE, NODE_FLAGS, PINNING, pinSelf, runJsonScript, spawnPinned, stopGroup, waitForLine } from './support/processes.ts';
import { presignTokens } from './support/subject-tokens.ts';
import { benchBrokerConfig, exchangeBody } from './support/broker-config.ts';

const BENCH = fileURLToPath(new URL('./', import.meta.url));
const REPO = fileURLToPath(new URL('../', import.meta.url));
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const RATE = Number(process.env.PROBE_RATE ?? 1800);
const ROUNDS = Number(process.env.PROBE_ROUNDS ?? 3);
const SINK = process.env.PROBE_SINK !== '0';
const FLAGS = (process.env.PROBE_FLAGS ?? '').split(' ').filter(Boolean);
const WARMUP = 5_000;
const FULL = { count: 8_000, seconds: 3 };
const HALF_SECONDS = 6;

async function start(tree: string, n: number, idp: LoopbackIdp, work: string): Promise<{ child: ChildProcess; url: string }> {
  if (tree === LEAN) return startLeanReference(idp.jwks.keys[0], join(work, `audit-lean-${n}.jsonl`), 30_000);
  const configFile = join(work, `config-${n}.json`);
  writeFileSync(configFile, JSON.stringify(benchBrokerConfig(idp, SINK ? join(work, `audit-${n}.db`) : undefined)));
  const out = openSync(join(process.env.PROBE_STDOUT_DIR ?? work, `stdout-${n}.log`), 'w');
  const child = spawnPinned(PINNING.server, NODE, [...NODE_FLAGS, ...FLAGS, 'functions/node.ts'], {
    cwd: tree,
    env: { ...process.env, ARGO_STS_CONFIG_FILE: configFile, ARGO_STS_SIGNING_KEYS: JSON.stringify(await generatePrivateJwks('ES256')), PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', out, 'pipe'],
  });
  closeSync(out);
  const [, , url] = await waitForLine(child, 'stderr', /^argo-sts: serving (\S+) on (http:\/\/\S+)$/, 30_000);
  child.stderr!.resume();
  return { child, url: `${url}/token` };
}

const LEAN = 'lean';

async function run(url: string, tokens: string[], file: string, spec: Partial<LoadSpec>, pid: number): Promise<LoadResult & { perCpuSecond: number }> {
  writeFileSync(file, tokens.map(exchangeBody).join('\n'));
  const before = cpuSeconds(pid);
  const result = await runJsonScript<LoadResult>(PINNING.load, join(BENCH, 'load.ts'), {
    url, headers: FORM, bodiesFile: file, connections: 32, amount: tokens.length, maxSeconds: 30, ...spec,
  }, 60_000);
  if (result.ok !== result.responses || result.errors > 0) throw new Error(`non-2xx: ${JSON.stringify(result.statuses)}`);
  return { ...result, perCpuSecond: Math.round(result.ok / (cpuSeconds(pid) - before)) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  pinSelf(PINNING.load);
  const trees = process.argv.slice(2).map((t) => (t === LEAN ? t : resolve(t)));
  if (trees.length === 0) trees.push(REPO);
  const work = mkdtempSync(join(tmpdir(), 'argo-sts-probe-'));
  const idp = await startLoopbackIdp({ path: '/_services/token' });
  const servers: { child: ChildProcess; url: string }[] = [];
  try {
    const perServer = WARMUP + ROUNDS * (FULL.count + Math.ceil(RATE * HALF_SECONDS));
    const pools = await Promise.all(trees.map((_, n) => presignTokens({ privateJwk: idp.privateJwk, kid: idp.kid, issuer: idp.issuer, count: perServer, tag: `p${n}` })));
    for (const [n, tree] of trees.entries()) servers.push(await start(tree, n, idp, work));
    const cursor = trees.map(() => 0);
    const take = (n: number, count: number) => pools[n]!.slice(cursor[n]!, (cursor[n]! += count));
    for (const [n, s] of servers.entries()) await run(s.url, take(n, WARMUP), join(work, 'w.bodies'), {}, s.child.pid!);
    const results: { full: number[]; p50: number[]; p99: number[]; max: number[] }[] = trees.map(() => ({ full: [], p50: [], p99: [], max: [] }));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [n, s] of servers.entries()) {
        const full = await run(s.url, take(n, FULL.count), join(work, 'f.bodies'), { maxSeconds: FULL.seconds }, s.child.pid!);
        const half = await run(s.url, take(n, Math.ceil(RATE * HALF_SECONDS)), join(work, 'h.bodies'), { overallRate: RATE, maxSeconds: HALF_SECONDS + 5 }, s.child.pid!);
        results[n]!.full.push(full.perCpuSecond);
        results[n]!.p50.push(half.p50Ms);
        results[n]!.p99.push(half.p99Ms);
        results[n]!.max.push(half.maxMs);
        process.stdout.write(`${JSON.stringify({ round: r, tree: trees[n], rssMiB: rssMiB(s.child.pid!), perCpuSecond: full.perCpuSecond, fullP99: full.p99Ms, half: { rate: half.okPerSecond, p50: half.p50Ms, p99: half.p99Ms, max: half.maxMs } })}\n`);
      }
    }
    for (const [n, tree] of trees.entries()) {
      const threads = Object.entries(cpuSecondsByThread(servers[n]!.child.pid!)).sort((a, b) => b[1] - a[1]);
      process.stdout.write(`cpu by thread ${tree}: ${threads.map(([name, s]) => `${name} ${s.toFixed(1)} s`).join(', ')}\n`);
    }
    for (const [n, tree] of trees.entries()) {
      const m = results[n]!;
      process.stdout.write(`median ${tree}: ${median(m.full)} exchanges per CPU-second; at ${RATE}/s p50 ${median(m.p50)} ms, p99 ${median(m.p99)} ms, max ${median(m.max)} ms\n`);
    }
  } finally {
    for (const s of servers) await stopGroup(s.child);
    idp.close();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
