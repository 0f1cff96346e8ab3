/**
 * The Workers runtime. The config comes from the ARGO_STS_CONFIG var or secret; the broker is
 * built on the first request of an isolate and kept for its life. Only resolved values are kept
 * across requests — never a pending promise, since I/O started by one request cannot be awaited
 * by another on Workers.
 */
import { parseConfig } from '../shared/broker/load-config.ts';
import { ConfigError, readConfigText } from '../shared/config/parse-config.ts';
import { loopbackIssuerFor } from './worker/loopback-issuer.ts';
import { createBroker } from '../shared/broker/create-broker.ts';
import { countIdpFetches, logMetrics } from '../shared/broker/metrics.ts';
import type { Broker } from '../shared/broker/broker.ts';
import { msalEntraClientFactory } from './ports/entra-msal.ts';
import { workerSecretStore } from './worker/secrets.ts';
import { d1AuditSink } from './worker/d1-audit-sink.ts';
import { coordinatorParts } from './worker/durable-coordinator.ts';
import { createApp } from './http/app.ts';

export interface WorkerEnv {
  readonly ARGO_STS_CONFIG?: string;
  readonly [binding: string]: unknown;
}

let broker: Broker | undefined;
let brokerSource: string | undefined;
let configuredIssuer = '';

async function brokerFor(env: WorkerEnv, requestUrl: string): Promise<Broker> {
  const source = env.ARGO_STS_CONFIG;
  if (typeof source !== 'string' || source.trim() === '') {
    throw new ConfigError(['(source): ARGO_STS_CONFIG is not set: configure the broker with a Worker var or secret']);
  }
  // wrangler dev on another loopback port: serve the issuer where the Worker listens (the
  // document is read again only when the config or that origin changes).
  const issuer = broker && brokerSource === source ? loopbackIssuerFor(configuredIssuer, requestUrl) : undefined;
  if (broker && issuer === broker.config.issuer) return broker;
  const doc = readConfigText(source) as Record<string, unknown> | null;
  const configured = typeof doc?.issuer === 'string' ? doc.issuer : '';
  if (doc && configured) doc.issuer = loopbackIssuerFor(configured, requestUrl);
  const config = parseConfig(doc);
  if (config.audit.sink?.startsWith('sqlite:')) throw new ConfigError(['audit.sink: sqlite: sinks exist on Node only; use d1:BINDING on Workers']);
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
    auditObserver: metrics,
  });
  // Rate limits and single-use tokens go global through a Durable Object when it is bound.
  broker = { ...built, ...coordinatorParts(env) };
  brokerSource = source;
  configuredIssuer = configured;
  return broker;
}

const app = createApp({
  broker: async (c) => {
    const built = await brokerFor(c.env as WorkerEnv, c.req.url);
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
