/**
 * The metrics port: what the broker measures, for the runtime to export. On Node it is backed by
 * prom-client and served at /metrics (functions/node/prometheus.ts, mounted by functions/node/start-server.ts,
 * so prom-client never reaches the Workers bundle); on Workers `logMetrics` writes the same
 * measurements as structured log fields. Label values come from the config (idp, policy names,
 * configured issuers) and from closed unions (decision, error code), never from a token.
 */
import type { AuditObserver, LineWriter } from '../audit/audit-log.ts';
import type { AuditEvent } from '../audit/audit-event.ts';
import type { FetchLike } from '../http/fetch-capped.ts';

export type IdpFetchKind = 'discovery' | 'jwks';

export interface MetricsPort extends AuditObserver {
  /** One call per outbound fetch of an IdP's discovery document or JWKS. */
  idpFetch(origin: string, kind: IdpFetchKind, ok: boolean): void;
}

/** The labels of a decision, as both runtimes report them. */
export function decisionLabels(event: AuditEvent): { endpoint: string; decision: string; reason: string; idp: string; policy: string } {
  return {
    endpoint: event.endpoint,
    decision: event.decision,
    reason: event.error ?? '',
    idp: event.idp ?? '',
    policy: event.policy ?? '',
  };
}

/** The fetch port, counting each IdP fetch (a thrown fetch or a non-2xx answer is a failure). */
export function countIdpFetches(fetch: FetchLike, metrics: Pick<MetricsPort, 'idpFetch'>): FetchLike {
  return async (input, init) => {
    const url = new URL(input);
    const kind: IdpFetchKind = url.pathname.endsWith('/.well-known/openid-configuration') ? 'discovery' : 'jwks';
    try {
      const response = await fetch(input, init);
      metrics.idpFetch(url.origin, kind, response.ok);
      return response;
    } catch (err) {
      metrics.idpFetch(url.origin, kind, false);
      throw err;
    }
  };
}

/**
 * Workers: each measurement as one structured log line (`"type": "metric"`), which Workers Logs
 * and Logpush can count and chart. Audit lines stay `"type": "audit"`.
 */
export function logMetrics(write: LineWriter): MetricsPort {
  return {
    decision(event) {
      write(JSON.stringify({
        type: 'metric', metric: 'argo_sts_exchanges_total', request_id: event.request_id, ...decisionLabels(event),
        duration_seconds: (event.latency_ms ?? 0) / 1000,
      }));
    },
    durableWrite(seconds, ok) {
      write(JSON.stringify({ type: 'metric', metric: 'argo_sts_audit_write', ok, duration_seconds: seconds }));
    },
    idpFetch(origin, kind, ok) {
      write(JSON.stringify({ type: 'metric', metric: 'argo_sts_jwks_fetches_total', origin, kind, ok }));
    },
  };
}
