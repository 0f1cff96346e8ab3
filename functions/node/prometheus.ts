/**
 * GET /metrics on Node: Prometheus text format through prom-client. functions/node.ts creates the
 * metrics, hands them to the broker as its metrics port and mounts this route; functions/http/app.ts
 * never imports this file, so prom-client stays out of the Workers bundle.
 */
import { Hono } from 'hono';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SigningKeys } from '../../shared/keys/signing-keys.ts';
import { decisionLabels, type MetricsPort } from '../../shared/broker/metrics.ts';
import type { AppEnv } from '../http/app-env.ts';

/** Exchange latency buckets (seconds): a cached-JWKS exchange takes milliseconds, a JWKS fetch up to its 5 s timeout. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Audit write buckets: a group commit is one fsync, typically well under 10 ms. */
const AUDIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];

export interface PrometheusMetrics extends MetricsPort {
  readonly registry: Registry;
  /** The signing keys whose age /metrics reports (set once the broker is built). */
  watchSigningKeys(keys: () => SigningKeys): void;
}

export function createPrometheusMetrics(options: { now?: () => number; processMetrics?: boolean } = {}): PrometheusMetrics {
  const now = options.now ?? (() => Date.now());
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'argo_sts_' });

  const exchanges = new Counter({
    name: 'argo_sts_exchanges_total',
    help: 'Decisions of /token (issued, denied) and /diagnose calls, by reason (error code), idp and policy.',
    labelNames: ['endpoint', 'decision', 'reason', 'idp', 'policy'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'argo_sts_exchange_duration_seconds',
    help: 'Time from request to decision, including the durable audit write.',
    labelNames: ['endpoint', 'decision'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const idpFetches = new Counter({
    name: 'argo_sts_jwks_fetches_total',
    help: 'Fetches of IdP discovery documents and JWKS, by origin and outcome.',
    labelNames: ['origin', 'kind', 'outcome'] as const,
    registers: [registry],
  });
  const auditWrites = new Histogram({
    name: 'argo_sts_audit_write_duration_seconds',
    help: 'Durable audit writes: time until the row was committed (or the write failed).',
    labelNames: ['outcome'] as const,
    buckets: AUDIT_BUCKETS,
    registers: [registry],
  });
  const auditFailures = new Counter({
    name: 'argo_sts_audit_write_failures_total',
    help: 'Durable audit writes that failed; an issuance whose write fails is refused with 503.',
    registers: [registry],
  });
  auditFailures.inc(0);

  // The age of the signing key: since this process first signed with its kid.
  let signingKeys: (() => SigningKeys) | undefined;
  const firstSeen = new Map<string, number>();
  new Gauge({
    name: 'argo_sts_signing_key_age_seconds',
    help: 'Seconds since this process started signing with the current key (by kid); rotation resets it.',
    labelNames: ['kid', 'alg'] as const,
    registers: [registry],
    collect() {
      this.reset();
      if (!signingKeys) return;
      const { kid, alg } = signingKeys();
      if (!firstSeen.has(kid)) firstSeen.set(kid, now());
      this.set({ kid, alg }, (now() - firstSeen.get(kid)!) / 1000);
    },
  });

  return {
    registry,
    watchSigningKeys(keys) {
      signingKeys = keys;
      const { kid } = keys();
      if (!firstSeen.has(kid)) firstSeen.set(kid, now());
    },
    decision(event) {
      const labels = decisionLabels(event);
      exchanges.inc(labels);
      if (event.latency_ms !== undefined) latency.observe({ endpoint: labels.endpoint, decision: labels.decision }, event.latency_ms / 1000);
    },
    durableWrite(seconds, ok) {
      auditWrites.observe({ outcome: ok ? 'committed' : 'failed' }, seconds);
      if (!ok) auditFailures.inc();
    },
    idpFetch(origin, kind, ok) {
      idpFetches.inc({ origin, kind, outcome: ok ? 'ok' : 'failed' });
    },
  };
}

export function metricsRoutes(metrics: PrometheusMetrics): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/metrics', async (c) => {
    return c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType, 'Cache-Control': 'no-store' });
  });
  return routes;
}
