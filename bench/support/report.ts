/**
 * The bench's verdict: every figure as a ratio to a baseline measured in the same run, each with
 * its target from issue 8, printed as a table and stored with the raw figures as JSON.
 */
import type { LimitResult } from '../crypto-limit.ts';
import type { LoadResult } from '../load.ts';

export interface BenchReport {
  readonly machine: { readonly cpus: number; readonly node: string; readonly pinned: boolean };
  readonly plan: unknown;
  readonly limit: LimitResult;
  readonly node: {
    readonly max: LoadResult;
    readonly half: LoadResult & { readonly targetRate: number };
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

export function summarize(report: BenchReport): Row[] {
  const { limit, node, peer, workers } = report;
  const rate = node.max.okPerSecond;
  const rows: Row[] = [
    { measure: 'argo-sts on Node: exchanges/s (max)', value: `${n0(rate)}/s, p50 ${node.max.p50Ms} ms, p99 ${node.max.p99Ms} ms` },
    { measure: 'limit, node:crypto (RS256 verify + ES256 sign)', value: `${n0(limit.nodeCrypto.pairPerSecond)}/s (verify ${n0(limit.nodeCrypto.verifyPerSecond)}, sign ${n0(limit.nodeCrypto.signPerSecond)})` },
    { measure: 'limit, jose/WebCrypto sequential', value: `${n0(limit.joseSequential.pairPerSecond)}/s (verify ${n0(limit.joseSequential.verifyPerSecond)}, sign ${n0(limit.joseSequential.signPerSecond)})` },
    { measure: `limit, jose/WebCrypto ${limit.joseConcurrent.inFlight} in flight`, value: `${n0(limit.joseConcurrent.pairPerSecond)}/s (verify ${n0(limit.joseConcurrent.verifyPerSecond)}, sign ${n0(limit.joseConcurrent.signPerSecond)})` },
    { measure: 'peer: oidc-provider client_credentials (ES256 JWT)', value: `${n0(peer.okPerSecond)}/s, p50 ${peer.p50Ms} ms, p99 ${peer.p99Ms} ms` },
    ratioRow('argo-sts / limit (node:crypto)', rate / limit.nodeCrypto.pairPerSecond, 0.6),
    ratioRow('argo-sts / limit (jose/WebCrypto sequential)', rate / limit.joseSequential.pairPerSecond),
    ratioRow('argo-sts / limit (jose/WebCrypto in flight)', rate / limit.joseConcurrent.pairPerSecond),
    ratioRow('argo-sts / peer', rate / peer.okPerSecond, 2),
    {
      measure: `p99 at half the max (${n0(node.half.targetRate)}/s offered, ${n0(node.half.okPerSecond)}/s served)`,
      value: `${node.half.p99Ms} ms (p50 ${node.half.p50Ms} ms)`,
      target: '≤ 5 ms',
      met: node.half.p99Ms <= 5,
    },
    {
      measure: 'JWKS fetches in steady state (per issuer)',
      value: `${node.jwks.steady.jwks} jwks, ${node.jwks.steady.discovery} discovery (start-up: ${node.jwks.afterWarmup.jwks}, ${node.jwks.afterWarmup.discovery})`,
      target: '0',
      met: node.jwks.steady.jwks === 0 && node.jwks.steady.discovery === 0,
    },
    {
      measure: `JWKS fetches under a kid storm (${Object.values(node.storm.statuses).reduce((a, b) => a + b, 0)} requests in ${node.storm.seconds} s, ${node.storm.secondsAfterStartupFetch} s after the start-up fetch)`,
      value: `${node.jwks.storm.jwks} jwks, ${node.jwks.storm.discovery} discovery; answers ${JSON.stringify(node.storm.statuses)}`,
      target: '≤ 1 per cooldown (30 s)',
      met: node.jwks.storm.jwks + node.jwks.storm.discovery <= 2 && node.jwks.storm.jwks <= 1 && !Object.keys(node.storm.statuses).some((s) => s.startsWith('5')),
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
      { measure: 'Workers bundle, gzipped', value: `${(workers.gzipBytes / 1024).toFixed(1)} KiB (raw ${(workers.bundleBytes / 1024).toFixed(1)} KiB)`, target: '≤ 300 KiB', met: workers.gzipBytes <= 300 * 1024 },
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
