/**
 * The broker of a Workers isolate, built from the Worker's env on the first request and kept for
 * the isolate's life. Only resolved values are kept across requests — never a pending promise,
 * since I/O started by one request cannot be awaited by another on Workers.
 *
 * A Worker cannot refuse to start, so a config that does not load (or a secret, the signing keys
 * or a target that cannot be set up) is answered instead: every endpoint that needs the broker
 * says 503 `temporarily_unavailable` with check `config`, `/readyz` names the StartupError code,
 * and the reasons go to the log (console.error) once per isolate — never to the wire. A config
 * error is kept (the document will not change under a running isolate); anything else (a secret
 * store that was unreachable, say) is retried after RETRY_FAILED_BUILD_MS.
 */
import type { Broker } from '../../shared/broker/broker.ts';
import { createBroker, type BrokerPorts } from '../../shared/broker/create-broker.ts';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { logMetrics } from '../../shared/broker/metrics.ts';
import { ConfigError } from '../../shared/config/parse-config.ts';
import type { Config } from '../../shared/config/schema.ts';
import { StartupError, StsError } from '../../shared/errors.ts';
import { msalEntraClientFactory } from '../ports/entra-msal.ts';
import { d1AuditSink } from './d1-audit-sink.ts';
import { coordinatorStores } from './durable-coordinator.ts';
import { workerSecretStore } from './secrets.ts';

export interface WorkerEnv {
  readonly ARGO_STS_CONFIG?: string;
  readonly [binding: string]: unknown;
}

/** How long a failed build (other than an invalid config) is answered from memory before it is tried again. */
export const RETRY_FAILED_BUILD_MS = 30_000;

interface Built {
  readonly source: string | undefined;
  readonly broker?: Broker;
  readonly failure?: StartupError;
  readonly failedAt?: number;
}

let current: Built | undefined;
/** Reasons already logged by this isolate, so each is logged once. */
const logged = new Set<string>();

/** The Workers side of a config: rules only this runtime has, on top of the shared load. */
export function loadWorkerConfig(source: string | undefined): Config {
  if (typeof source !== 'string' || source.trim() === '') {
    throw new ConfigError(['ARGO_STS_CONFIG: not set; configure the broker with a Worker var or secret']);
  }
  const config = parseConfigText(source);
  if (config.audit.sink?.startsWith('sqlite:')) throw new ConfigError(['audit.sink: sqlite: sinks exist on Node only; use d1:BINDING on Workers']);
  return config;
}

/** The ports of the Workers runtime for this env. */
export function workerBrokerPorts(env: WorkerEnv, config: Config): BrokerPorts {
  const sink = config.audit.sink;
  const secrets = workerSecretStore(env);
  return {
    fetch: (input, init) => fetch(input, init),
    clock: () => Date.now(),
    resolveSecret: (ref) => secrets.resolve(ref),
    resolveSecretStage: (ref, stage) => secrets.resolveStage(ref, stage),
    writeLine: (line) => console.log(line),
    warn: (message) => console.warn(message),
    shareInFlight: false,
    // No fetchTrustingCa: Workers' fetch trusts public CAs only (kubernetes-tokenrequest `ca` is refused).
    entraClient: msalEntraClientFactory((input, init) => fetch(input, init)),
    openAuditSink: sink?.startsWith('d1:') ? () => d1AuditSink(env, sink.slice('d1:'.length)) : undefined,
    // The same measurements as Node's /metrics, as structured log lines ("type": "metric").
    metrics: logMetrics((line) => console.log(line)),
    // Rate limits and single-use tokens go global through the Durable Object when it is bound.
    ...coordinatorStores(env),
  };
}

function unavailable(failure: StartupError): StsError {
  return new StsError('ERR_NOT_CONFIGURED', 'the broker is not configured correctly; the operator must fix it (see its logs)', { cause: failure });
}

function logOnce(failure: StartupError): void {
  const reason = `${failure.code} ${failure.message}`;
  if (logged.has(reason)) return;
  logged.add(reason);
  console.error(`argo-sts: cannot serve (${failure.code}): ${failure.message}`);
}

/**
 * The isolate's broker for this env; throws StsError ERR_NOT_CONFIGURED (503, check `config`,
 * the StartupError as its cause) while the broker cannot be built. Any other error is the
 * error boundary's (a logged 500).
 */
export async function brokerForEnv(env: WorkerEnv, now = Date.now()): Promise<Broker> {
  const source = env.ARGO_STS_CONFIG;
  if (current && current.source === source) {
    if (current.broker) return current.broker;
    const retry = !(current.failure instanceof ConfigError) && now - (current.failedAt ?? 0) >= RETRY_FAILED_BUILD_MS;
    if (!retry) throw unavailable(current.failure!);
  }
  try {
    const config = loadWorkerConfig(source);
    const broker = await createBroker(config, workerBrokerPorts(env, config));
    current = { source, broker };
    return broker;
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    logOnce(err);
    current = { source, failure: err, failedAt: now };
    throw unavailable(err);
  }
}

/** Forgets the isolate's broker (tests build several from one module). */
export function resetBrokerForEnv(): void {
  current = undefined;
  logged.clear();
}
