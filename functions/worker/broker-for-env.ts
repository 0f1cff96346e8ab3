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
import { logMetrics } from '../../shared/broker/metrics.ts';
import { ConfigError, readConfigText } from '../../shared/config/parse-config.ts';
import type { Config } from '../../shared/config/schema.ts';
import { StartupError, StsError } from '../../shared/errors.ts';
import { msalEntraClientFactory } from '../ports/entra-msal.ts';
import { d1ApprovalStore } from './d1-approval-store.ts';
import { d1AuditSink } from './d1-audit-sink.ts';
import { coordinatorStores } from './durable-coordinator.ts';
import { loopbackIssuerFor } from './loopback-issuer.ts';
import { auditD1Binding, loadWorkerConfig } from './worker-config.ts';
import { workerSecretStore } from './secrets.ts';

export interface WorkerEnv {
  readonly ARGO_STS_CONFIG?: string;
  readonly [binding: string]: unknown;
}

/** How long a failed build (other than an invalid config) is answered from memory before it is tried again. */
export const RETRY_FAILED_BUILD_MS = 30_000;

interface Built {
  readonly source: string | undefined;
  /** The document's issuer, and the one served (they differ under wrangler dev on another loopback port). */
  readonly configuredIssuer?: string;
  readonly issuer?: string;
  readonly broker?: Broker;
  readonly failure?: StartupError;
  readonly failedAt?: number;
}

let current: Built | undefined;
/** Reasons already logged by this isolate, so each is logged once. */
const logged = new Set<string>();

/** The ports of the Workers runtime for this env. */
export function workerBrokerPorts(env: WorkerEnv, config: Config): BrokerPorts {
  const d1 = auditD1Binding(config);
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
    openAuditSink: d1 === undefined ? undefined : () => d1AuditSink(env, d1),
    // Approvals live in the audit database when there is one (else in the isolate's memory).
    openApprovalStore: d1 ? () => d1ApprovalStore(env, d1) : undefined,
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
export async function brokerForEnv(env: WorkerEnv, now = Date.now(), requestUrl?: string): Promise<Broker> {
  const source = env.ARGO_STS_CONFIG;
  const sameOrigin = !current?.configuredIssuer || !requestUrl || loopbackIssuerFor(current.configuredIssuer, requestUrl) === current.issuer;
  if (current && current.source === source && sameOrigin) {
    if (current.broker) return current.broker;
    const retry = !(current.failure instanceof ConfigError) && now - (current.failedAt ?? 0) >= RETRY_FAILED_BUILD_MS;
    if (!retry) throw unavailable(current.failure!);
  }
  try {
    const config = loadWorkerConfig(source, requestUrl);
    const broker = await createBroker(config, workerBrokerPorts(env, config));
    const configured = (readConfigText(source!) as { issuer?: unknown }).issuer;
    current = { source, broker, issuer: config.issuer, ...(typeof configured === 'string' && { configuredIssuer: configured }) };
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
