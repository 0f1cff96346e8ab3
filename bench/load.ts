/**
 * The load generator, run as its own process (pinned apart from the server by bench/run.ts):
 * autocannon against one endpoint, either cycling through a file of distinct bodies (one per
 * line, each sent once) or repeating one body. Bounded twice: by a request count and by a
 * duration, whichever comes first. Latencies are taken from autocannon's per-response timings
 * (float milliseconds) rather than its integer-millisecond histogram. Prints one JSON line.
 *
 *   node bench/load.ts '<LoadSpec as JSON>'
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

export interface LoadSpec {
  readonly url: string;
  readonly headers: Record<string, string>;
  /** A file with one request body per line; each line is sent at most once. */
  readonly bodiesFile?: string;
  /** Or one body sent every time. */
  readonly body?: string;
  readonly connections: number;
  /** Stop after this many responses (capped at the number of bodies when bodiesFile is set). */
  readonly amount: number;
  readonly maxSeconds: number;
  /** Requests per second over all connections; omitted = as fast as the server answers. */
  readonly overallRate?: number;
}

export interface LoadResult {
  readonly responses: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly seconds: number;
  /** 2xx responses per second. */
  readonly okPerSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly statuses: Record<string, number>;
  /** Set by bench/run.ts: the server's CPU time during the run, and 2xx responses per CPU-second. */
  readonly serverCpuSeconds?: number;
  readonly okPerCpuSecond?: number;
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

async function main(spec: LoadSpec): Promise<LoadResult> {
  const bodies = spec.bodiesFile ? readFileSync(spec.bodiesFile, 'utf8').split('\n').filter(Boolean) : undefined;
  const amount = bodies ? Math.min(spec.amount, bodies.length) : spec.amount;
  let next = 0;
  const latencies = new Float64Array(amount + spec.connections * 2);
  let recorded = 0;
  const statuses: Record<string, number> = {};
  let ok = 0;
  let errors = 0;

  const started = performance.now();
  const instance = autocannon({
    url: spec.url,
    method: 'POST',
    headers: spec.headers,
    connections: spec.connections,
    amount,
    ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
    requests: [{
      setupRequest: (req: Record<string, unknown>) => ({ ...req, body: bodies ? bodies[next++ % bodies.length] : spec.body }),
    }],
  });
  const timer = setTimeout(() => instance.stop(), spec.maxSeconds * 1000);
  let lastResponseAt = started;
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    lastResponseAt = performance.now();
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    if (statusCode >= 200 && statusCode < 300) ok++;
    if (recorded < latencies.length) latencies[recorded++] = responseTime;
  });
  instance.on('reqError', () => {
    errors++;
  });
  await new Promise<void>((resolve) => instance.on('done', () => resolve()));
  clearTimeout(timer);
  // Up to the last response: autocannon notices a reached `amount` only on its one-second tick.
  const seconds = (lastResponseAt - started) / 1000;
  const sorted = latencies.subarray(0, recorded).sort();
  return {
    responses: recorded,
    ok,
    non2xx: recorded - ok,
    errors,
    seconds: round(seconds, 3),
    okPerSecond: seconds > 0 ? round(ok / seconds, 1) : 0,
    p50Ms: round(percentile(sorted, 50)),
    p90Ms: round(percentile(sorted, 90)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted.length ? sorted[sorted.length - 1]! : Number.NaN),
    statuses,
  };
}

if (import.meta.main) {
  const result = await main(JSON.parse(process.argv[2]!) as LoadSpec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
