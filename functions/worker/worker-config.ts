/**
 * The config of the Workers runtime: the ARGO_STS_CONFIG var or secret, loaded as everywhere
 * (shared/broker/load-config.ts: parse, compile, preset checks, policy examples) plus the rules
 * only this runtime has. Read by the isolate (broker-for-env.ts) and, before anything is
 * uploaded, by `npm run deploy` (scripts/deploy-worker.ts).
 */
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { ConfigError } from '../../shared/config/parse-config.ts';
import type { Config } from '../../shared/config/schema.ts';

/** Throws ConfigError (ERR_CONFIG) with every issue, each naming its path. */
export function loadWorkerConfig(source: string | undefined): Config {
  if (typeof source !== 'string' || source.trim() === '') {
    throw new ConfigError(['ARGO_STS_CONFIG: not set; configure the broker with a Worker var or secret']);
  }
  const config = parseConfigText(source);
  if (config.audit.sink?.startsWith('sqlite:')) throw new ConfigError(['audit.sink: sqlite: sinks exist on Node only; use d1:BINDING on Workers']);
  return config;
}

/** The D1 binding `audit.sink: d1:BINDING` names, if any. */
export function auditD1Binding(config: Config): string | undefined {
  const sink = config.audit.sink;
  return sink?.startsWith('d1:') ? sink.slice('d1:'.length) : undefined;
}
