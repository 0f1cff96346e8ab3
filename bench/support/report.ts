/**
 * The bench's verdict: every figure as a ratio to a baseline measured in the same run, each with
 * its target from issue 8, printed as a table and stored with the raw figures as JSON.
 */
import type { LimitResult } from '../crypto-limit.ts';
import type { LoadResult } from '../load.ts';

/**
 * The Workers bundle budget, gzipped: the one number the bench reports against and
 * test/e2e/bundle-size.test.ts enforces (why: docs/architecture.md, "The bundle budget").
 */
export const WORKER_BUNDLE_BUDGET_BYTES = 400 * 1024;

/** argo-sts, the same with WebCrypto, the same without the durable sink, the lean reference, the HTTP floors, the peer. */
export type Contender = 'node' | 'webCrypto' | 'noSink' | 'lean' | 'hono' | 'nodeHttp' | 'peer';

export interface BenchReport {
  readonly machine: { readonly cpus: number; readonly node: string; readonly pinned: boolean };
  readonly plan: unknown;
  readonly limit: LimitResult;
  /** Answers per second, and per CPU-second of the server, of each contender in each interleaved round. */
  readonly rounds: readonly Record<Contender, { readonly perSecond: number; readonly perCpuSecond: number }>[];
  /** Each contender's median round. */
  readonly contenders: Record<Contender, LoadResult>;
  readonly node: {
    readonly max: LoadResult;
    readonly half: LoadResult & { readonly targetRate: number };
    /** The same paced load on argo-sts without the durable sink, and on the Hono floor. */
    readonly halfNoSink: LoadResult;
    readonly halfHonoFloor: LoadResult;
    readonly storm: { readonly statuses: Record<string, number>; readonly seconds: number; readonly secondsAfterStartupFetch: number };
    readonly jwks: {
      readonly afterWarmup: { readonly discovery: number; readonly jwks: number };
      readonly steady: { readonly discovery: number; readonly jwks: number };
      readonly storm: { readonly discovery: number; readonly jwks: number };
    };
    readonly memory: {
      readonly after1k: number;
      readonly mid: { readonly after: number; readonly rssMiB: number };
      readonly afterTotal: { readonly after: number; readonly rssMiB: number };
      readonly fillRate: number;
    };
    readonly audit: { readonly rows: Record<string, number>; readonly stdoutLines: number };
    /** Bytes the main isolate allocated per exchange after warm-up (bench/support/allocation.ts). */
    readonly allocation: { readonly exchanges: number; readonly bytesPerExchange: number; readonly collections: number };
  };
  readonly peer: LoadResult & { readonly tokenBytes: number };
  readonly workers: (LoadResult & {
    readonly bundleBytes: number;
    readonly gzipBytes: number;
    readonly startToFirstAnswerMs: number;
    readonly firstExchangeMs: number;
    readonly jwksDuringLoad: number;
  }) | undefined;
}

export interface Row {
  readonly measure: string;
  readonly value: string;
  readonly ratio?: number;
  readonly target?: string;
  /** undefined: a reference figure without a target. */
  readonly met?: boolean;
}

const r2 = (x: number) => Math.round(x * 100) / 100;
const n0 = (x: number) => Math.round(x).toLocaleString('en-US');

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export function summarize(report: BenchReport): Row[] {
  const { limit, node, peer, workers, rounds, contenders } = report;
  const rate = node.max.okPerSecond;
  const cpu = (name: Contender) => median(rounds.map((r) => r[name].perCpuSecond));
  const lim = limit.perCpuSecond;
  // An exchange that did nothing but answer over Hono and verify + sign: 1 / (1/floor + 1/limit).
  const ceiling = 1 / (1 / cpu('hono') + 1 / lim.nodeCrypto.pairPerSecond);
  const served = (name: Contender, what: string) => {
    const run = contenders[name];
    return { measure: what, value: `${n0(cpu(name))} per CPU-second (wall: ${n0(run.okPerSecond)}/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms)` };
  };
  const rows: Row[] = [
    served('node', 'argo-sts on Node (node:crypto port, SQLite sink): exchanges'),
    served('webCrypto', 'argo-sts, WebCrypto on the hot path (ARGO_STS_CRYPTO=webcrypto)'),
    served('noSink', 'argo-sts without the durable sink (stdout audit only)'),
    served('lean', 'lean reference: node:http, node:crypto RS256 verify + ES256 sign, one audit line'),
    served('hono', 'HTTP floor: Hono on @hono/node-server, same request, canned answer'),
    served('nodeHttp', 'HTTP floor: bare node:http, same request, canned answer'),
    served('peer', 'peer: oidc-provider client_credentials (ES256 JWT): tokens'),
    { measure: 'limit, node:crypto: RS256 verify + ES256 sign', value: `${n0(lim.nodeCrypto.pairPerSecond)} per CPU-second (verify ${n0(lim.nodeCrypto.verifyPerSecond)}, sign ${n0(lim.nodeCrypto.signPerSecond)}; wall ${n0(limit.nodeCrypto.pairPerSecond)}/s)` },
    { measure: 'limit, jose/WebCrypto sequential', value: `${n0(lim.joseSequential.pairPerSecond)} per CPU-second (verify ${n0(lim.joseSequential.verifyPerSecond)}, sign ${n0(lim.joseSequential.signPerSecond)}; wall ${n0(limit.joseSequential.pairPerSecond)}/s)` },
    { measure: `limit, jose/WebCrypto ${limit.joseConcurrent.inFlight} in flight`, value: `${n0(lim.joseConcurrent.pairPerSecond)} per CPU-second (verify ${n0(lim.joseConcurrent.verifyPerSecond)}, sign ${n0(lim.joseConcurrent.signPerSecond)}; wall ${n0(limit.joseConcurrent.pairPerSecond)}/s)` },
    {
      measure: 'argo-sts CPU per exchange / the lean reference\'s (same run, same distinct tokens)',
      value: `${r2(cpu('lean') / cpu('node'))}×`,
      ratio: r2(cpu('lean') / cpu('node')),
      target: '≤ 1.25×',
      met: cpu('lean') / cpu('node') <= 1.25,
    },
    ratioRow('argo-sts / limit (node:crypto), per CPU-second', cpu('node') / lim.nodeCrypto.pairPerSecond, 0.6),
    ratioRow('argo-sts / peer, per CPU-second', cpu('node') / cpu('peer'), 2),
    ratioRow('argo-sts / limit (jose/WebCrypto sequential), per CPU-second', cpu('node') / lim.joseSequential.pairPerSecond),
    ratioRow('argo-sts node:crypto port / WebCrypto, per CPU-second', cpu('node') / cpu('webCrypto')),
    ratioRow('argo-sts with SQLite sink / without, per CPU-second', cpu('node') / cpu('noSink')),
    ratioRow('argo-sts / HTTP floor (Hono), per CPU-second', cpu('node') / cpu('hono')),
    ratioRow('HTTP floor (Hono) / limit (node:crypto), per CPU-second', cpu('hono') / lim.nodeCrypto.pairPerSecond),
    ratioRow('HTTP floor (node:http) / limit (node:crypto), per CPU-second', cpu('nodeHttp') / lim.nodeCrypto.pairPerSecond),
    ratioRow(`ceiling: Hono floor + crypto limit in series (${n0(ceiling)} per CPU-second) / limit`, ceiling / lim.nodeCrypto.pairPerSecond),
    ratioRow('argo-sts / that ceiling, per CPU-second', cpu('node') / ceiling),
    ratioRow('argo-sts / limit (node:crypto), wall clock', rate / limit.nodeCrypto.pairPerSecond),
    ratioRow('argo-sts / peer, wall clock', rate / peer.okPerSecond),
    {
      measure: `p99 at half the max (${n0(node.half.targetRate)}/s offered, ${n0(node.half.okPerSecond)}/s served)`,
      value: `${node.half.p99Ms} ms (p50 ${node.half.p50Ms} ms)`,
      target: '≤ 5 ms',
      met: node.half.p99Ms <= 5,
    },
    {
      measure: `allocated per exchange (main isolate, --trace-gc-nvp, ${n0(node.allocation.exchanges)} exchanges after warm-up)`,
      value: `${(node.allocation.bytesPerExchange / 1024).toFixed(1)} KB (${node.allocation.collections} collections)`,
      target: '≤ 25 KB',
      met: node.allocation.bytesPerExchange <= 25 * 1024,
    },
    {
      measure: 'the same paced load: without the durable sink / on the Hono floor',
      value: `p99 ${node.halfNoSink.p99Ms} ms (p50 ${node.halfNoSink.p50Ms} ms) / p99 ${node.halfHonoFloor.p99Ms} ms (p50 ${node.halfHonoFloor.p50Ms} ms)`,
    },
    {
      measure: 'JWKS fetches in steady state (per issuer)',
      value: `${node.jwks.steady.jwks} jwks, ${node.jwks.steady.discovery} discovery (start-up, three servers: ${node.jwks.afterWarmup.jwks}, ${node.jwks.afterWarmup.discovery})`,
      target: '0',
      met: node.jwks.steady.jwks === 0 && node.jwks.steady.discovery === 0,
    },
    {
      measure: `JWKS fetches under a kid storm (${Object.values(node.storm.statuses).reduce((a, b) => a + b, 0)} requests in ${node.storm.seconds} s, ${node.storm.secondsAfterStartupFetch} s after the start-up fetch)`,
      value: `${node.jwks.storm.jwks} jwks, ${node.jwks.storm.discovery} discovery; answers ${JSON.stringify(node.storm.statuses)}`,
      target: '≤ 1 per cooldown (30 s)',
      met: node.jwks.storm.jwks <= 1 && node.jwks.storm.discovery <= 1 && !Object.keys(node.storm.statuses).some((s) => s.startsWith('5')),
    },
    {
      measure: `RSS after ${n0(node.memory.afterTotal.after)} exchanges / after 1k`,
      value: `${node.memory.afterTotal.rssMiB} MiB / ${node.memory.after1k} MiB (after ${n0(node.memory.mid.after)}: ${node.memory.mid.rssMiB} MiB)`,
      ratio: r2(node.memory.afterTotal.rssMiB / node.memory.after1k),
      target: 'flat: ≤ 1.10 × the mid-run reading',
      met: node.memory.afterTotal.rssMiB <= 1.1 * node.memory.mid.rssMiB,
    },
  ];
  if (workers) {
    rows.push(
      { measure: 'Workers (wrangler dev, local workerd): exchanges/s', value: `${n0(workers.okPerSecond)}/s, p50 ${workers.p50Ms} ms, p99 ${workers.p99Ms} ms`, ratio: r2(workers.okPerSecond / rate) },
      { measure: 'Workers: start to first answered request', value: `${n0(workers.startToFirstAnswerMs)} ms (first exchange ${workers.firstExchangeMs} ms)` },
      { measure: 'Workers bundle, gzipped', value: `${(workers.gzipBytes / 1024).toFixed(1)} KiB (raw ${(workers.bundleBytes / 1024).toFixed(1)} KiB)`, target: `≤ ${WORKER_BUNDLE_BUDGET_BYTES / 1024} KiB`, met: workers.gzipBytes <= WORKER_BUNDLE_BUDGET_BYTES },
    );
  }
  return rows;
}

function ratioRow(measure: string, ratio: number, atLeast?: number): Row {
  return atLeast === undefined
    ? { measure, value: `${r2(ratio)}×`, ratio: r2(ratio) }
    : { measure, value: `${r2(ratio)}×`, ratio: r2(ratio), target: `≥ ${atLeast}×`, met: ratio >= atLeast };
}

export function formatTable(rows: readonly Row[]): string {
  const cells = rows.map((row) => [row.measure, row.value, row.target ?? '', row.met === undefined ? '' : row.met ? 'met' : 'NOT met']);
  const header = ['measure', 'value', 'target', ''];
  const lines = [header, header.map(() => '---'), ...cells].map((c) => `| ${c.join(' | ')} |`);
  return lines.join('\n');
}
