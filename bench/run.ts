/**
 * `npm run bench`: argo-sts beside its cryptographic limit, its HTTP floor and a peer, in one run
 * on one machine, so that the ratios hold on a noisy host. Loopback only; every phase bounded in
 * count and time (PLAN below).
 *
 *   1. the limit: RS256 verify + ES256 sign per second on one core (node:crypto, jose/WebCrypto),
 *      and the lean reference broker (bench/support/lean-reference.ts): the least an exchange costs
 *   2. argo-sts on Node, started as `npm start` starts it (functions/node.ts, SQLite audit sink),
 *      loaded by autocannon in another process with distinct pre-signed subject tokens; beside it,
 *      in interleaved rounds: the same server with ARGO_STS_CRYPTO=webcrypto, the same without the
 *      durable sink, the HTTP floors (Hono and bare node:http answering the same request with a
 *      canned token) and 3. the peer, oidc-provider's client_credentials endpoint (ES256 JWTs);
 *      then p99 under an evenly paced half of the max
 *   4. Workers: the same exchange through `wrangler dev` (local workerd), bundle size, start time
 *   5. JWKS fetches per issuer in steady state and under a storm of unknown kids
 *   6. memory: RSS after BENCH_EXCHANGES exchanges vs after 1k
 *
 * Throughput is reported per second and per CPU-second of the server process (/proc): on a shared
 * host the second stays comparable when other tenants take the core for a while.
 *
 * Environment: BENCH_EXCHANGES (default 100000; the memory phase's total), BENCH_SKIP_WORKERS=1,
 * BENCH_CPU_PROF=DIR (the argo-sts servers write --cpu-prof profiles there; read one with
 * `node bench/support/profile-summary.ts DIR/<file>.cpuprofile`).
 */
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatabaseSync } from 'node:sqlite';
import { gzipSync } from 'node:zlib';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { generatePrivateJwks } from '../shared/keys/signing-keys.ts';
import { startLoopbackIdp, type LoopbackIdp } from '../test/support/loopback-idp.ts';
import { freePort } from '../test/support/free-port.ts';
import type { LimitInput, LimitResult } from './crypto-limit.ts';
import type { LoadResult, LoadSpec } from './load.ts';
import { cpuSeconds, startLeanReference, NODE, NODE_FLAGS, PINNING, pinSelf, rssMiB, runJsonScript, spawnPinned, stopGroup, waitForLine } from './support/processes.ts';
import { benchBrokerConfig, exchangeBody } from './support/broker-config.ts';
import { presignTokens } from './support/subject-tokens.ts';
import { formatTable, summarize, type BenchReport } from './support/report.ts';
import { allocatedBytes } from './support/allocation.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const BENCH = fileURLToPath(new URL('./', import.meta.url));

/** Every count and duration of the run, in one place. */
export const PLAN = {
  /** Exchanges before the first RSS reading. */
  warmup: 1_000,
  /** Exchanges each argo-sts server answers before any timed run: V8 keeps optimizing for ~5k. */
  jitWarmup: 5_000,
  /** Total exchanges before the last RSS reading: the issue asks for 100k. */
  total: Math.max(10_000, Number(process.env.BENCH_EXCHANGES ?? 100_000)),
  connections: 32,
  /**
   * Full-load rounds, interleaved: argo-sts, the same with WebCrypto, the same without the durable
   * sink, the HTTP floors (Hono, node:http) and the peer, one after the other; medians reported.
   */
  rounds: { count: 3, seconds: 3, atMost: 10_000 },
  halfRun: { seconds: 6 },
  storm: { tokens: 2_000, seconds: 6 },
  /** Exchanges measured for bytes allocated, after a warm-up of jitWarmup, on a server of its own. */
  allocation: { exchanges: 20_000, seconds: 60 },
  workers: { tokens: 4_000, seconds: 8, connections: 16, startMs: 60_000 },
  /** The one-core limit: rounds of each loop, medians reported. */
  limit: { rounds: 3, secondsPerLoop: 0.5 },
  serverStartMs: 30_000,
} as const;

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** Hands out each pre-signed token once, phase after phase. */
class TokenPool {
  #next = 0;
  readonly tokens: readonly string[];
  readonly dir: string;
  constructor(tokens: readonly string[], dir: string) {
    this.tokens = tokens;
    this.dir = dir;
  }
  get remaining(): number {
    return this.tokens.length - this.#next;
  }
  /** Writes up to `count` unused bodies to a file for the load generator. */
  take(count: number, name: string): { file: string; count: number } {
    const slice = this.tokens.slice(this.#next, this.#next + count);
    const file = join(this.dir, `${name}.bodies`);
    writeFileSync(file, slice.map(exchangeBody).join('\n'));
    return { file, count: slice.length };
  }
  /** Marks tokens as used: what was answered plus whatever may have been in flight at a stop. */
  used(result: LoadResult, connections: number, offered: number): void {
    this.#next += Math.min(offered, result.responses + connections);
  }
}

/** Runs the load generator; with `serverPid`, also the server's CPU time over the run. */
async function load(spec: LoadSpec, serverPid?: number): Promise<LoadResult> {
  const before = serverPid === undefined ? 0 : cpuSeconds(serverPid);
  const result = await runJsonScript<LoadResult>(PINNING.load, join(BENCH, 'load.ts'), spec, (spec.maxSeconds + 30) * 1000);
  if (serverPid === undefined) return result;
  const serverCpuSeconds = Math.round((cpuSeconds(serverPid) - before) * 100) / 100;
  return { ...result, serverCpuSeconds, okPerCpuSecond: serverCpuSeconds > 0 ? Math.round(result.ok / serverCpuSeconds) : Number.NaN };
}

async function loadFromPool(url: string, pool: TokenPool, name: string, count: number, options: { seconds: number; rate?: number; connections?: number; serverPid?: number }): Promise<LoadResult> {
  const connections = options.connections ?? PLAN.connections;
  const batch = pool.take(count, name);
  const result = await load({
    url,
    headers: FORM,
    bodiesFile: batch.file,
    connections,
    amount: batch.count,
    maxSeconds: options.seconds,
    ...(options.rate ? { overallRate: options.rate } : {}),
  }, options.serverPid);
  pool.used(result, connections, batch.count);
  return result;
}

function requireOk(result: LoadResult, what: string): LoadResult {
  if (result.non2xx > 0 || result.errors > 0 || result.ok === 0) {
    throw new Error(`${what}: ${result.ok} ok, ${result.non2xx} non-2xx (${JSON.stringify(result.statuses)}), ${result.errors} errors`);
  }
  return result;
}

async function firstExchange(url: string, token: string): Promise<{ accessToken: string }> {
  const res = await fetch(`${url}/token`, { method: 'POST', headers: FORM, body: exchangeBody(token) });
  const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
  if (res.status !== 200 || !body.access_token) throw new Error(`exchange answered ${res.status}: ${body.error} ${body.error_description}`);
  return { accessToken: body.access_token };
}

function payloadOf(jwt: string): string {
  return Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8');
}

async function main(): Promise<void> {
  const started = performance.now();
  const log = (message: string) => process.stderr.write(`bench: ${message}\n`);
  pinSelf(PINNING.load);
  const work = mkdtempSync(join(tmpdir(), 'argo-sts-bench-'));
  const idp = await startLoopbackIdp({ path: '/_services/token' });
  const cleanup: (() => Promise<void>)[] = [async () => idp.close(), async () => rmSync(work, { recursive: true, force: true })];
  try {
    const report = await runPhases(idp, work, log, cleanup);
    const file = join(BENCH, 'results', 'latest.json');
    mkdirSync(join(BENCH, 'results'), { recursive: true });
    const rows = summarize(report);
    writeFileSync(file, `${JSON.stringify({ rows, ...report, seconds: Math.round((performance.now() - started) / 1000) }, null, 2)}\n`);
    process.stdout.write(`${formatTable(rows)}\n`);
    log(`wrote ${file} (${Math.round((performance.now() - started) / 1000)} s)`);
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  }
}

async function runPhases(idp: LoopbackIdp, work: string, log: (m: string) => void, cleanup: (() => Promise<void>)[]): Promise<BenchReport> {
  log(`pinning: ${PINNING.enabled ? `servers on core ${PINNING.server}, load generator on core ${PINNING.load}` : 'unavailable (taskset or a second core missing)'}`);
  const perRound = PLAN.rounds.atMost;
  const variantCount = PLAN.jitWarmup + PLAN.rounds.count * perRound + 10_000;
  log(`pre-signing ${PLAN.total + 3 * variantCount + PLAN.jitWarmup + PLAN.allocation.exchanges + PLAN.storm.tokens} distinct RS256 subject tokens`);
  const pool = new TokenPool(await presignTokens({ privateJwk: idp.privateJwk, kid: idp.kid, issuer: idp.issuer, count: PLAN.total, tag: 'x' }), work);
  const webCryptoPool = new TokenPool(await presignTokens({ privateJwk: idp.privateJwk, kid: idp.kid, issuer: idp.issuer, count: variantCount, tag: 'c' }), work);
  const leanPool = new TokenPool(await presignTokens({ privateJwk: idp.privateJwk, kid: idp.kid, issuer: idp.issuer, count: variantCount, tag: 'l' }), work);
  const noSinkPool = new TokenPool(await presignTokens({ privateJwk: idp.privateJwk, kid: idp.kid, issuer: idp.issuer, count: variantCount, tag: 'n' }), work);
  const allocationPool = new TokenPool(await presignTokens({ privateJwk: idp.privateJwk, kid: idp.kid, issuer: idp.issuer, count: PLAN.jitWarmup + PLAN.allocation.exchanges, tag: 'a' }), work);
  const stormTokens = await presignTokens({ privateJwk: idp.privateJwk, kid: idp.kid, kidPrefix: 'storm', issuer: idp.issuer, count: PLAN.storm.tokens, tag: 's' });

  // 2. argo-sts on Node, as `npm start` runs it; beside it the same server with WebCrypto on the
  // hot path (ARGO_STS_CRYPTO=webcrypto), and 3. the peer. All on the server core, loaded in turn.
  const auditDb = join(work, 'audit.db');
  const auditLog = join(work, 'audit.jsonl');
  const main = await startArgoSts(idp, work, 'main', auditDb, auditLog, {}, cleanup);
  const alt = await startArgoSts(idp, work, 'webcrypto', join(work, 'audit-webcrypto.db'), join(work, 'audit-webcrypto.jsonl'), { ARGO_STS_CRYPTO: 'webcrypto' }, cleanup);
  const noSink = await startArgoSts(idp, work, 'no-sink', undefined, join(work, 'audit-no-sink.jsonl'), {}, cleanup);
  const lean = await startLeanReference(idp.jwks.keys[0], join(work, 'audit-lean.jsonl'), PLAN.serverStartMs);
  cleanup.push(() => stopGroup(lean.child));
  const honoFloor = await startFloor('hono', cleanup);
  const httpFloor = await startFloor('node-http', cleanup);
  const peer = await startPeer(cleanup);
  const tokenUrl = `${main.url}/token`;
  log(`argo-sts serving on ${main.url}; warm-up (${PLAN.jitWarmup} exchanges per argo-sts server)`);

  const sample = await firstExchange(main.url, pool.tokens[0]!);
  pool.used({ responses: 1 } as LoadResult, 0, 1);
  requireOk(await loadFromPool(tokenUrl, pool, 'warmup', PLAN.warmup - 1, { seconds: 30 }), 'warm-up');
  const rss1k = rssMiB(main.server.pid!);
  requireOk(await loadFromPool(tokenUrl, pool, 'jit-warmup', PLAN.jitWarmup - PLAN.warmup, { seconds: 60 }), 'warm-up');
  requireOk(await loadFromPool(`${alt.url}/token`, webCryptoPool, 'webcrypto-warmup', PLAN.jitWarmup, { seconds: 60 }), 'WebCrypto path warm-up');
  requireOk(await loadFromPool(`${noSink.url}/token`, noSinkPool, 'no-sink-warmup', PLAN.jitWarmup, { seconds: 60 }), 'no-sink warm-up');
  requireOk(await loadFromPool(lean.url, leanPool, 'lean-warmup', PLAN.jitWarmup, { seconds: 60 }), 'lean reference warm-up');
  // Each of the three servers fetched discovery and the JWKS once; from here on, none should.
  const jwksAfterWarmup = { ...idp.requests };
  const warmedAt = performance.now();
  const floorSpec = (url: string): LoadSpec => ({ url, headers: FORM, body: exchangeBody(pool.tokens[1]!), connections: PLAN.connections, amount: 10_000_000, maxSeconds: PLAN.rounds.seconds });
  for (const warm of [peer.spec, floorSpec(honoFloor.url), floorSpec(httpFloor.url)]) requireOk(await load(warm), 'warm-up');

  // 1. The limit, on the server core while the servers idle.
  log('measuring the one-core limit (node:crypto, jose/WebCrypto)');
  const limitInput: LimitInput = {
    subjectToken: pool.tokens[1]!,
    publicJwk: idp.jwks.keys[0]!,
    mintedPayload: payloadOf(sample.accessToken),
    rounds: PLAN.limit.rounds,
    secondsPerLoop: PLAN.limit.secondsPerLoop,
  };
  const limit = await runJsonScript<LimitResult>(PINNING.server, join(BENCH, 'crypto-limit.ts'), limitInput, 120_000);

  // Interleaved rounds, so that a burst of load from elsewhere on the host hits every contender alike.
  log(`${PLAN.rounds.count} rounds of ${PLAN.rounds.seconds} s per contender at full load (${PLAN.connections} connections)`);
  const rounds: Round[] = [];
  const at = { seconds: PLAN.rounds.seconds };
  for (let r = 0; r < PLAN.rounds.count; r++) {
    rounds.push({
      node: requireOk(await loadFromPool(tokenUrl, pool, `max-${r}`, Math.min(perRound, Math.floor(pool.remaining / 3)), { ...at, serverPid: main.server.pid! }), 'max throughput'),
      webCrypto: requireOk(await loadFromPool(`${alt.url}/token`, webCryptoPool, `webcrypto-${r}`, perRound, { ...at, serverPid: alt.server.pid! }), 'WebCrypto path'),
      noSink: requireOk(await loadFromPool(`${noSink.url}/token`, noSinkPool, `no-sink-${r}`, perRound, { ...at, serverPid: noSink.server.pid! }), 'no durable sink'),
      lean: requireOk(await loadFromPool(lean.url, leanPool, `lean-${r}`, perRound, { ...at, serverPid: lean.child.pid! }), 'lean reference'),
      hono: requireOk(await load(floorSpec(honoFloor.url), honoFloor.child.pid!), 'Hono floor'),
      nodeHttp: requireOk(await load(floorSpec(httpFloor.url), httpFloor.child.pid!), 'node:http floor'),
      peer: requireOk(await load(peer.spec, peer.child.pid!), 'peer'),
    });
  }
  const max = medianRun(rounds.map((r) => r.node));
  const halfRate = Math.max(1, Math.round(max.okPerSecond / 2));
  // The same paced load on argo-sts, on argo-sts without the durable sink, and on the Hono floor:
  // what the tail owes to the sink's commits, and what it owes to the host and the HTTP stack.
  log(`half of the max (${halfRate}/s for ${PLAN.halfRun.seconds} s): argo-sts, without the durable sink, the Hono floor`);
  const halfCount = Math.ceil(halfRate * PLAN.halfRun.seconds);
  const paced = { seconds: PLAN.halfRun.seconds + 5, rate: halfRate };
  const half = requireOk(await loadFromPool(tokenUrl, pool, 'half', Math.min(halfCount, Math.floor(pool.remaining / 2)), { ...paced, serverPid: main.server.pid! }), 'half throughput');
  const halfNoSink = requireOk(await loadFromPool(`${noSink.url}/token`, noSinkPool, 'half-no-sink', halfCount, paced), 'half throughput, no sink');
  const halfHono = requireOk(await load({ ...floorSpec(honoFloor.url), amount: halfCount, maxSeconds: paced.seconds, overallRate: halfRate }), 'half throughput, Hono floor');
  for (const child of [alt.server, noSink.server, lean.child, honoFloor.child, httpFloor.child, peer.child]) await stopGroup(child);
  const jwksSteady = { discovery: idp.requests.discovery - jwksAfterWarmup.discovery, jwks: idp.requests.jwks - jwksAfterWarmup.jwks };

  // 6. Memory: on to the total, then the resident size again.
  const soFar = PLAN.total - pool.remaining;
  log(`memory: ${pool.remaining} more exchanges (to ${PLAN.total})`);
  const rssMid = { after: soFar, rssMiB: rssMiB(main.server.pid!) };
  const fill = pool.remaining > 0 ? requireOk(await loadFromPool(tokenUrl, pool, 'fill', pool.remaining, { seconds: 240, serverPid: main.server.pid! }), 'memory fill') : undefined;
  const exchanged = PLAN.total - pool.remaining;
  const rssTotal = rssMiB(main.server.pid!);

  // 5. A storm of unknown kids: each refused, at most one refetch per issuer per cooldown. It comes
  // last, so that (in a full run) the last fetch is older than the cooldown and one refetch is due.
  log(`kid storm (${PLAN.storm.tokens} tokens with unknown kids)`);
  const stormFile = join(work, 'storm.bodies');
  writeFileSync(stormFile, stormTokens.map(exchangeBody).join('\n'));
  const beforeStorm = { ...idp.requests };
  const stormAfterSeconds = Math.round((performance.now() - warmedAt) / 1000);
  const storm = await load({ url: tokenUrl, headers: FORM, bodiesFile: stormFile, connections: PLAN.connections, amount: stormTokens.length, maxSeconds: PLAN.storm.seconds });
  const jwksStorm = { discovery: idp.requests.discovery - beforeStorm.discovery, jwks: idp.requests.jwks - beforeStorm.jwks };
  await stopGroup(main.server);

  // Allocation, last among the Node phases: its server's start-up fetches and the main server's
  // idle time would otherwise show in the JWKS and memory figures.
  const allocation = await measureAllocation(idp, work, allocationPool, log, cleanup);

  const db = new DatabaseSync(auditDb, { readOnly: true });
  const rows = db.prepare('SELECT decision, count(*) AS n FROM audit_events GROUP BY decision').all() as { decision: string; n: number }[];
  db.close();
  const auditRows = Object.fromEntries(rows.map((r) => [r.decision, r.n]));
  const auditLines = readFileSync(auditLog, 'utf8').split('\n').filter(Boolean).length;

  // 4. Workers.
  const workers = process.env.BENCH_SKIP_WORKERS === '1' ? undefined : await measureWorkers(idp, work, log, cleanup);

  return {
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version, pinned: PINNING.enabled },
    plan: PLAN,
    limit,
    rounds: rounds.map((r) => Object.fromEntries(Object.entries(r).map(([name, run]) => [name, { perSecond: run.okPerSecond, perCpuSecond: run.okPerCpuSecond! }])) as BenchReport['rounds'][number]),
    contenders: Object.fromEntries(CONTENDERS.map((name) => [name, medianRun(rounds.map((r) => r[name]))])) as BenchReport['contenders'],
    node: {
      max,
      half: { ...half, targetRate: halfRate },
      halfNoSink,
      halfHonoFloor: halfHono,
      storm: { statuses: storm.statuses, seconds: storm.seconds, secondsAfterStartupFetch: stormAfterSeconds },
      jwks: { afterWarmup: jwksAfterWarmup, steady: jwksSteady, storm: jwksStorm },
      memory: { after1k: rss1k, mid: rssMid, afterTotal: { after: exchanged, rssMiB: rssTotal }, fillRate: fill?.okPerSecond ?? 0 },
      audit: { rows: auditRows, stdoutLines: auditLines },
      allocation,
    },
    peer: { ...medianRun(rounds.map((r) => r.peer)), tokenBytes: peer.tokenBytes },
    workers,
  };
}

const CONTENDERS = ['node', 'webCrypto', 'noSink', 'lean', 'hono', 'nodeHttp', 'peer'] as const;
type Round = Record<(typeof CONTENDERS)[number], LoadResult>;

/** The round with the median throughput (its latencies come with it). */
function medianRun(runs: readonly LoadResult[]): LoadResult {
  const sorted = [...runs].sort((a, b) => a.okPerSecond - b.okPerSecond);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Starts functions/node.ts as `npm start` does (config file, signing keys from the environment, PORT=0). */
async function startArgoSts(
  idp: LoopbackIdp,
  work: string,
  name: string,
  auditDb: string | undefined,
  stdoutFile: string,
  env: Record<string, string>,
  cleanup: (() => Promise<void>)[],
  flags: readonly string[] = [],
): Promise<{ server: ChildProcess; url: string }> {
  const configFile = join(work, `argo-sts-${name}.json`);
  writeFileSync(configFile, JSON.stringify(benchBrokerConfig(idp, auditDb), null, 2));
  const signingKeys = JSON.stringify(await generatePrivateJwks('ES256'));
  const stdoutFd = openSync(stdoutFile, 'w');
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const server = spawnPinned(PINNING.server, NODE, [...NODE_FLAGS, ...profile, ...flags, 'functions/node.ts'], {
    cwd: REPO,
    env: { ...process.env, ...env, ARGO_STS_CONFIG_FILE: configFile, ARGO_STS_SIGNING_KEYS: signingKeys, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', stdoutFd, 'pipe'],
  });
  closeSync(stdoutFd);
  cleanup.push(() => stopGroup(server));
  const [, , url] = await waitForLine(server, 'stderr', /^argo-sts: serving (\S+) on (http:\/\/\S+)$/, PLAN.serverStartMs);
  return { server, url: url! };
}

/**
 * Bytes allocated per exchange: a server of its own (started with --trace-gc-nvp, so its GC lines
 * land in its stdout beside the audit lines), warmed up, then loaded at full speed; the bytes its
 * main isolate allocated between the start and the end of that load, over the exchanges answered.
 */
async function measureAllocation(idp: LoopbackIdp, work: string, pool: TokenPool, log: (m: string) => void, cleanup: (() => Promise<void>)[]): Promise<BenchReport['node']['allocation']> {
  log(`allocation: ${PLAN.allocation.exchanges} exchanges on a server started with --trace-gc-nvp`);
  const stdout = join(work, 'audit-allocation.jsonl');
  const spawnedAt = performance.now();
  const server = await startArgoSts(idp, work, 'allocation', join(work, 'audit-allocation.db'), stdout, {}, cleanup, ['--trace-gc-nvp']);
  requireOk(await loadFromPool(`${server.url}/token`, pool, 'allocation-warmup', PLAN.jitWarmup, { seconds: 60 }), 'allocation warm-up');
  const fromMs = performance.now() - spawnedAt;
  const run = requireOk(await loadFromPool(`${server.url}/token`, pool, 'allocation', PLAN.allocation.exchanges, { seconds: PLAN.allocation.seconds }), 'allocation');
  const toMs = performance.now() - spawnedAt;
  await stopGroup(server.server);
  const { bytes, collections } = allocatedBytes(readFileSync(stdout, 'utf8'), fromMs, toMs);
  return { exchanges: run.ok, bytesPerExchange: Math.round(bytes / run.ok), collections };
}

/** An HTTP floor server (bench/support/floor-server.ts) in its own pinned process. */
async function startFloor(mode: 'hono' | 'node-http', cleanup: (() => Promise<void>)[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawnPinned(PINNING.server, NODE, [...NODE_FLAGS, join(BENCH, 'support', 'floor-server.ts'), mode], { cwd: REPO, stdio: ['ignore', 'pipe', 'ignore'] });
  cleanup.push(() => stopGroup(child));
  const [line] = await waitForLine(child, 'stdout', /^\{.*\}$/, PLAN.serverStartMs);
  return { child, url: (JSON.parse(line) as { url: string }).url };
}

/** The peer in its own pinned process, and the request a client sends it. */
async function startPeer(cleanup: (() => Promise<void>)[]): Promise<{ child: ChildProcess; spec: LoadSpec; tokenBytes: number }> {
  const child = spawnPinned(PINNING.server, NODE, [...NODE_FLAGS, join(BENCH, 'support', 'peer-server.ts')], { cwd: REPO, stdio: ['ignore', 'pipe', 'ignore'] });
  cleanup.push(() => stopGroup(child));
  const [line] = await waitForLine(child, 'stdout', /^\{.*\}$/, PLAN.serverStartMs);
  const { url, authorization, body } = JSON.parse(line) as { url: string; authorization: string; body: string };
  const headers = { ...FORM, authorization };
  const sample = await fetch(url, { method: 'POST', headers, body });
  const token = ((await sample.json()) as { access_token: string }).access_token;
  return { child, spec: { url, headers, body, connections: PLAN.connections, amount: 10_000_000, maxSeconds: PLAN.rounds.seconds }, tokenBytes: token.length };
}

async function measureWorkers(idp: LoopbackIdp, work: string, log: (m: string) => void, cleanup: (() => Promise<void>)[]): Promise<BenchReport['workers']> {
  log('Workers: bundling (wrangler deploy --dry-run, as npm run build)');
  const outdir = join(work, 'dist');
  execFileSync('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', outdir], { cwd: REPO, stdio: 'ignore', env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } });
  const bundle = readFileSync(join(outdir, 'worker.js'));
  const bundleBytes = statSync(join(outdir, 'worker.js')).size;
  const gzipBytes = gzipSync(bundle, { level: 9 }).length;

  const tokens = await presignTokens({ privateJwk: idp.privateJwk, kid: idp.kid, issuer: idp.issuer, count: PLAN.workers.tokens, tag: 'w' });
  const envFile = join(work, 'workers.env');
  const config = benchBrokerConfig(idp);
  writeFileSync(envFile, `ARGO_STS_CONFIG='${JSON.stringify(config)}'\nARGO_STS_SIGNING_KEYS='${JSON.stringify(await generatePrivateJwks('ES256'))}'\n`);
  const port = await freePort();
  const outFd = openSync(join(work, 'wrangler.out'), 'w');
  log(`Workers: wrangler dev on 127.0.0.1:${port}`);
  const t0 = performance.now();
  const child = spawnPinned(PINNING.server, 'npx', [
    'wrangler', 'dev', '--env-file', envFile, '--ip', '127.0.0.1', '--port', String(port), '--persist-to', join(work, 'wrangler-state'),
    '--show-interactive-dev-session=false', '--log-level', 'warn',
  ], { cwd: REPO, stdio: ['ignore', outFd, outFd], env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } });
  closeSync(outFd);
  cleanup.push(() => stopGroup(child));
  try {
    const url = `http://127.0.0.1:${port}`;
    let firstAnswerMs: number | undefined;
    while (performance.now() - t0 < PLAN.workers.startMs) {
      const ok = await fetch(`${url}/healthz`).then((r) => r.status === 200, () => false);
      if (ok) {
        firstAnswerMs = Math.round(performance.now() - t0);
        break;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    if (firstAnswerMs === undefined) throw new Error(`wrangler dev did not answer within ${PLAN.workers.startMs} ms: ${readFileSync(join(work, 'wrangler.out'), 'utf8').slice(-2000)}`);
    const t1 = performance.now();
    await firstExchange(url, tokens[0]!);
    const firstExchangeMs = Math.round(performance.now() - t1);
    const jwksBefore = { ...idp.requests };
    const bodies = join(work, 'workers.bodies');
    writeFileSync(bodies, tokens.slice(1).map(exchangeBody).join('\n'));
    const result = requireOk(await load({ url: `${url}/token`, headers: FORM, bodiesFile: bodies, connections: PLAN.workers.connections, amount: tokens.length - 1, maxSeconds: PLAN.workers.seconds }), 'workers');
    return {
      ...result,
      bundleBytes,
      gzipBytes,
      startToFirstAnswerMs: firstAnswerMs,
      firstExchangeMs,
      jwksDuringLoad: idp.requests.jwks - jwksBefore.jwks,
    };
  } finally {
    await stopGroup(child);
  }
}

if (import.meta.main) await main();
