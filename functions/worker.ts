/**
 * The Workers runtime. The config comes from the ARGO_STS_CONFIG var or secret; the broker is
 * built on the first request of an isolate and kept for its life. Only resolved values are kept
 * across requests — never a pending promise, since I/O started by one request cannot be awaited
 * by another on Workers.
 */
import { parseConfigText } from '../shared/broker/load-config.ts';
import { createBroker } from '../shared/broker/create-broker.ts';
import { countIdpFetches, logMetrics } from '../shared/broker/metrics.ts';
import type { Broker } from '../shared/broker/broker.ts';
import { msalEntraClientFactory } from './ports/entra-msal.ts';
import { workerSecretStore } from './worker/secrets.ts';
import { d1AuditSink } from './worker/d1-audit-sink.ts';
import { coordinatorParts } from './worker/durable-coordinator.ts';
import { d1ApprovalStore } from './worker/d1-approval-store.ts';
import { createApp } from './http/app.ts';

export interface WorkerEnv {
  readonly ARGO_STS_CONFIG?: string;
  readonly [binding: string]: unknown;
}

let broker: Broker | undefined;
let brokerSource: string | undefined;

async function brokerFor(env: WorkerEnv): Promise<Broker> {
  const source = env.ARGO_STS_CONFIG;
  if (broker && brokerSource === source) return broker;
  if (typeof source !== 'string' || source.trim() === '') {
    throw new Error('ARGO_STS_CONFIG is not set: configure the broker with a Worker var or secret');
  }
  const config = parseConfigText(source);
  if (config.audit.sink?.startsWith('sqlite:')) throw new Error('audit.sink: sqlite: sinks exist on Node only; use d1:BINDING on Workers');
  const sink = config.audit.sink;
  const openAuditSink = sink?.startsWith('d1:') ? () => d1AuditSink(env, sink.slice('d1:'.length)) : undefined;
  const secrets = workerSecretStore(env);
  // The same measurements as Node's /metrics, as structured log lines ("type": "metric").
  const metrics = logMetrics((line) => console.log(line));
  const built = await createBroker(config, {
    fetch: countIdpFetches((input, init) => fetch(input, init), metrics),
    clock: () => Date.now(),
    resolveSecret: (ref) => secrets.resolve(ref),
    resolveSecretStage: (ref, stage) => secrets.resolveStage(ref, stage),
    writeLine: (line) => console.log(line),
    warn: (message) => console.warn(message),
    shareInFlight: false,
    // No fetchTrustingCa: Workers' fetch trusts public CAs only (kubernetes-tokenrequest `ca` is refused).
    entraClient: msalEntraClientFactory((input, init) => fetch(input, init)),
    openAuditSink,
    openApprovalStore: sink?.startsWith('d1:') ? () => d1ApprovalStore(env, sink.slice('d1:'.length)) : undefined,
    auditObserver: metrics,
  });
  // Rate limits and single-use tokens go global through a Durable Object when it is bound.
  broker = { ...built, ...coordinatorParts(env) };
  brokerSource = source;
  return broker;
}

const app = createApp({
  broker: async (c) => {
    const built = await brokerFor(c.env as WorkerEnv);
    // A due key refresh runs after the response, inside this request's waitUntil.
    const refresh = built.signingKeys.maintain?.(Date.now());
    if (refresh) c.executionCtx.waitUntil(refresh);
    return built;
  },
  clientIp: (c) => c.req.header('cf-connecting-ip'),
  logError: (message, err) => console.error(message, err instanceof Error ? (err.stack ?? err.name) : 'unknown error'),
});

export default app;
/** The Durable Object class behind the ARGO_STS_COORDINATOR binding (wrangler.toml). */
export { StsCoordinator } from './worker/durable-coordinator.ts';
