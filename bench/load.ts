/**
 * The load generator, run as its own process (pinned apart from the server by bench/run.ts):
 * autocannon against one endpoint, either cycling through a file of distinct bodies (one per
 * line, each sent once) or repeating one body. Bounded twice: by a request count and by a
 * duration, whichever comes first. At full load it is autocannon (latencies from its per-response
 * timings, float milliseconds, not its integer-millisecond histogram); at a given rate it is an
 * open loop of its own (see pacedLoad). Prints one JSON line.
 *
 *   node bench/load.ts '<LoadSpec as JSON>'
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
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
  /** Requests per second, paced evenly (open loop); omitted = as fast as the server answers. */
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

/** What a run observed, before it is summarized. */
interface Observed {
  readonly latencies: Float64Array;
  readonly ok: number;
  readonly errors: number;
  readonly statuses: Record<string, number>;
  readonly seconds: number;
}

class Recorder {
  readonly latencies: Float64Array;
  readonly statuses: Record<string, number> = {};
  readonly started = performance.now();
  recorded = 0;
  ok = 0;
  errors = 0;
  #lastResponseAt = this.started;
  constructor(capacity: number) {
    this.latencies = new Float64Array(capacity);
  }
  response(statusCode: number, latencyMs: number): void {
    this.#lastResponseAt = performance.now();
    this.statuses[statusCode] = (this.statuses[statusCode] ?? 0) + 1;
    if (statusCode >= 200 && statusCode < 300) this.ok++;
    if (this.recorded < this.latencies.length) this.latencies[this.recorded++] = latencyMs;
  }
  done(): Observed {
    // Up to the last response: autocannon notices a reached `amount` only on its one-second tick.
    const seconds = (this.#lastResponseAt - this.started) / 1000;
    return { latencies: this.latencies.subarray(0, this.recorded), ok: this.ok, errors: this.errors, statuses: this.statuses, seconds };
  }
}

/** Closed loop, as fast as the server answers: autocannon. */
async function fullLoad(spec: LoadSpec, bodies: readonly string[] | undefined, amount: number): Promise<Observed> {
  let next = 0;
  const recorder = new Recorder(amount + spec.connections * 2);
  const instance = autocannon({
    url: spec.url,
    method: 'POST',
    headers: spec.headers,
    connections: spec.connections,
    amount,
    requests: [{
      setupRequest: (req: Record<string, unknown>) => ({ ...req, body: bodies ? bodies[next++ % bodies.length] : spec.body }),
    }],
  });
  const timer = setTimeout(() => instance.stop(), spec.maxSeconds * 1000);
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => recorder.response(statusCode, responseTime));
  instance.on('reqError', () => {
    recorder.errors++;
  });
  await new Promise<void>((resolve) => instance.on('done', () => resolve()));
  clearTimeout(timer);
  return recorder.done();
}

/**
 * Open loop at a fixed rate: request i is due at start + i / rate, sent on a keep-alive pool of
 * `connections` sockets, and its latency counts from when it was due — so a stalled server is
 * charged for the requests that queued behind the stall (no coordinated omission). autocannon's
 * own rate limit sends each second's quota in a burst, which measures queueing, not latency.
 */
async function pacedLoad(spec: LoadSpec, bodies: readonly string[] | undefined, amount: number, rate: number): Promise<Observed> {
  const url = new URL(spec.url);
  const agent = new Agent({ keepAlive: true, maxSockets: spec.connections });
  const recorder = new Recorder(amount);
  const deadline = recorder.started + spec.maxSeconds * 1000;
  const inFlight = new Set<Promise<void>>();
  const send = (body: string, dueAt: number) => new Promise<void>((resolve) => {
    // Late: counted from when it was due. Early (the timer's granularity): from when it was sent.
    const from = Math.min(dueAt, performance.now());
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { ...spec.headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => {
        recorder.response(res.statusCode ?? 0, performance.now() - from);
        resolve();
      });
    });
    req.on('error', () => {
      recorder.errors++;
      resolve();
    });
    req.end(body);
  });
  for (let i = 0; i < amount; i++) {
    const dueAt = recorder.started + (i * 1000) / rate;
    if (dueAt > deadline) break;
    const wait = dueAt - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const p = send(bodies ? bodies[i % bodies.length]! : spec.body!, dueAt);
    inFlight.add(p);
    void p.then(() => inFlight.delete(p));
  }
  await Promise.race([Promise.all(inFlight), new Promise((resolve) => setTimeout(resolve, 10_000))]);
  agent.destroy();
  return recorder.done();
}

async function main(spec: LoadSpec): Promise<LoadResult> {
  const bodies = spec.bodiesFile ? readFileSync(spec.bodiesFile, 'utf8').split('\n').filter(Boolean) : undefined;
  const amount = bodies ? Math.min(spec.amount, bodies.length) : spec.amount;
  const seen = spec.overallRate ? await pacedLoad(spec, bodies, amount, spec.overallRate) : await fullLoad(spec, bodies, amount);
  const sorted = seen.latencies.sort();
  return {
    responses: sorted.length,
    ok: seen.ok,
    non2xx: sorted.length - seen.ok,
    errors: seen.errors,
    seconds: round(seen.seconds, 3),
    okPerSecond: seen.seconds > 0 ? round(seen.ok / seen.seconds, 1) : 0,
    p50Ms: round(percentile(sorted, 50)),
    p90Ms: round(percentile(sorted, 90)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted.length ? sorted[sorted.length - 1]! : Number.NaN),
    statuses: seen.statuses,
  };
}

if (import.meta.main) {
  const result = await main(JSON.parse(process.argv[2]!) as LoadSpec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
