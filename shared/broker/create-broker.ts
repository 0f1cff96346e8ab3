/**
 * Builds the broker from a parsed config and the runtime's ports, once per process (Node) or
 * isolate (Workers): keys are resolved and imported here, never per request.
 */
import { AuditLog, type LineWriter } from '../audit/audit-log.ts';
import type { AuditSink } from '../audit/audit-event.ts';
import type { Config } from '../config/schema.ts';
import { type CryptoPort, webCryptoPort } from '../keys/crypto-port.ts';
import type { Broker } from './broker.ts';
import { IssuerKeys } from '../verify/issuer-keys.ts';
import { type FetchLike } from '../http/fetch-capped.ts';
import { RateLimiter, type RateLimitStore } from '../exchange/rate-limit.ts';
import { MemoryReplayCache, type ReplayCache } from '../exchange/replay-cache.ts';
import { countIdpFetches, type MetricsPort } from './metrics.ts';
import type { SecretStage, SecretVersion } from '../config/secret-refs.ts';
import { SigningKeyRing } from '../keys/signing-key-ring.ts';
import { buildTargetIssuers, type TargetPorts } from '../targets/build-target-issuers.ts';
import { generateSigningKeys, loadSigningKeys, type SigningKeys } from '../keys/signing-keys.ts';

export interface BrokerPorts {
  readonly fetch: FetchLike;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
  /** Resolves `env:NAME`, `file:PATH`, `aws-secrets-manager:ID[#key]` to the secret's text. */
  readonly resolveSecret: (ref: string) => Promise<string>;
  /**
   * A version stage of a secret (secret-refs.ts SecretStore.resolveStage). Rotating signing keys
   * (`aws-secrets-manager:`, `file:`) read their stages through it; without it only the current
   * value is read.
   */
  readonly resolveSecretStage?: ((ref: string, stage: SecretStage) => Promise<SecretVersion | undefined>) | undefined;
  /** stdout, one line per call. */
  readonly writeLine: LineWriter;
  /** stderr, for operators. */
  readonly warn: (message: string) => void;
  /**
   * Opens the durable audit sink, if any. Called last, once keys and targets are set up, so a
   * start that fails creates no database.
   */
  readonly openAuditSink?: (() => AuditSink | Promise<AuditSink>) | undefined;
  /**
   * Metrics (Prometheus on Node, log lines on Workers): decisions and durable writes, and every
   * fetch of an IdP's discovery document or JWKS (only those: target calls are not counted).
   */
  readonly metrics?: MetricsPort | undefined;
  /**
   * Where rate-limit buckets live (default: this process's or isolate's memory). Workers: the
   * StsCoordinator Durable Object when bound (functions/worker/durable-coordinator.ts).
   */
  readonly rateLimitStore?: RateLimitStore | undefined;
  /** Where spent `jti`s of single-use idps live (default: memory), as rateLimitStore. */
  readonly replayCache?: ReplayCache | undefined;
  /** See IssuerKeysOptions.shareInFlight: true on Node, false on Workers. */
  readonly shareInFlight: boolean;
  /** Node: a fetch that trusts a private CA (kubernetes-tokenrequest `ca`). Workers cannot. */
  readonly fetchTrustingCa?: TargetPorts['fetchTrustingCa'];
  /** An MSAL client per Entra target (functions/ports/entra-msal.ts). */
  readonly entraClient?: TargetPorts['entraClient'];
  /** Verify, sign and hash on the hot path: node:crypto on Node; WebCrypto (the default) on Workers. */
  readonly crypto?: CryptoPort | undefined;
}

export async function createBroker(config: Config, ports: BrokerPorts): Promise<Broker> {
  const { alg, keys } = config.signing;
  let signingKeys: SigningKeys;
  if (keys === 'generate') {
    signingKeys = await generateSigningKeys(alg);
    ports.warn(
      `WARNING: signing.keys is "generate": an ephemeral ${alg} key (kid ${signingKeys.kid}) signs tokens. ` +
        'It is lost on restart and differs between instances; use a stored key in production.',
    );
  } else if (keys.startsWith('env:')) {
    signingKeys = await loadSigningKeys(alg, await ports.resolveSecret(keys));
  } else {
    // Stored key sets rotate: AWSCURRENT signs, AWSPENDING and AWSPREVIOUS are published, and a
    // retired key stays published as long as any token it signed can still be valid.
    const readStage = ports.resolveSecretStage
      ? (stage: SecretStage) => ports.resolveSecretStage!(keys, stage)
      : async (stage: SecretStage) => (stage === 'AWSCURRENT' ? { value: await ports.resolveSecret(keys), version: 'current' } : undefined);
    signingKeys = await SigningKeyRing.load({
      alg,
      readStage,
      clock: ports.clock,
      retainSeconds: config.defaults.max_ttl + config.defaults.clock_skew,
      warn: ports.warn,
    });
  }
  const crypto = ports.crypto ?? webCryptoPort;
  const targets = await buildTargetIssuers(config, signingKeys, { ...ports, crypto });
  const auditSink = await ports.openAuditSink?.();
  const idpFetch = ports.metrics ? countIdpFetches(ports.fetch, ports.metrics) : ports.fetch;
  return {
    config,
    signingKeys,
    targets,
    issuerKeys: new IssuerKeys({ fetch: idpFetch, clock: ports.clock, shareInFlight: ports.shareInFlight }),
    audit: new AuditLog(ports.writeLine, auditSink, { redact: config.audit.redact, observer: ports.metrics }),
    rateLimits: new RateLimiter(ports.rateLimitStore),
    replayCache: ports.replayCache ?? new MemoryReplayCache(),
    clock: ports.clock,
    crypto,
  };
}
