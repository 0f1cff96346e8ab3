/**
 * The config of the Workers runtime: the ARGO_STS_CONFIG var or secret, loaded as everywhere
 * (shared/broker/load-config.ts: parse, compile, preset checks, policy examples) plus the rules
 * only this runtime has. Read by the isolate (broker-for-env.ts) and, before anything is
 * uploaded, by `npm run deploy` (scripts/deploy-worker.ts).
 */
import { parseConfig } from '../../shared/broker/load-config.ts';
import { ConfigError, readConfigText } from '../../shared/config/parse-config.ts';
import { COORDINATOR_BINDING } from './durable-coordinator.ts';
import { loopbackIssuerFor } from './loopback-issuer.ts';
import type { Config } from '../../shared/config/schema.ts';

/** Throws ConfigError (ERR_CONFIG) with every issue, each naming its path. */
export function loadWorkerConfig(source: string | undefined, requestUrl?: string): Config {
  if (typeof source !== 'string' || source.trim() === '') {
    throw new ConfigError(['ARGO_STS_CONFIG: not set; configure the broker with a Worker var or secret']);
  }
  const doc = readConfigText(source);
  // wrangler dev on another loopback port: serve the issuer where the Worker listens.
  if (requestUrl && doc && typeof doc === 'object' && typeof (doc as { issuer?: unknown }).issuer === 'string') {
    const withIssuer = doc as { issuer: string };
    withIssuer.issuer = loopbackIssuerFor(withIssuer.issuer, requestUrl);
  }
  const config = parseConfig(doc);
  const nodeOnly = nodeOnlyParts(config);
  if (nodeOnly.length > 0) throw new ConfigError(nodeOnly);
  return config;
}

/**
 * The parts of a config only the Node runtime has, each with what Workers use instead: this runtime
 * has no PostgreSQL adapter; its shared state is the StsCoordinator Durable Object, its audit table D1.
 */
export function nodeOnlyParts(config: Pick<Config, 'database' | 'audit' | 'state'>): string[] {
  const out: string[] = [];
  if (config.audit.sink?.startsWith('sqlite:')) out.push('audit.sink: sqlite: sinks exist on Node only; use d1:BINDING on Workers');
  if (config.audit.sink === 'postgres') out.push('audit.sink: postgres exists on Node only; use d1:BINDING on Workers');
  if (config.state.store === 'postgres') {
    out.push(`state.store: postgres exists on Node only; on Workers single-use tokens and rate limits are shared through the ${COORDINATOR_BINDING} Durable Object binding (state.store: memory)`);
  }
  if (config.database !== undefined) out.push('database: PostgreSQL is for Node only; remove it from a Worker\'s config');
  return out;
}

/** The D1 binding `audit.sink: d1:BINDING` names, if any. */
export function auditD1Binding(config: Config): string | undefined {
  const sink = config.audit.sink;
  return sink?.startsWith('d1:') ? sink.slice('d1:'.length) : undefined;
}
