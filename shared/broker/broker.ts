/**
 * The broker: everything a request needs, built once per process (Node) or isolate (Workers) by
 * create-broker.ts from the config and the runtime's ports.
 */
import type { AuditLog } from '../audit/audit-log.ts';
import type { Config } from '../config/schema.ts';
import type { RateLimiter } from '../exchange/rate-limit.ts';
import type { ReplayCache } from '../exchange/replay-cache.ts';
import type { CryptoPort } from '../keys/crypto-port.ts';
import type { SigningKeys } from '../keys/signing-keys.ts';
import type { TargetIssuers } from '../targets/issue-credential.ts';
import type { IssuerKeys } from '../verify/issuer-keys.ts';

/** Everything a request needs, built once per process (Node) or isolate (Workers). */
export interface Broker {
  readonly config: Config;
  readonly signingKeys: SigningKeys;
  readonly issuerKeys: IssuerKeys;
  readonly audit: AuditLog;
  /** Who makes the credential, per target kind (shared/targets/). */
  readonly targets: TargetIssuers;
  /** Token buckets for the idps' `rate_limit` (see rate-limit.ts for where they live). */
  readonly rateLimits: RateLimiter;
  /** Spent `jti`s of idps with `single_use` (see replay-cache.ts). */
  readonly replayCache: ReplayCache;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
  /** Verify, sign and hash on the hot path (keys/crypto-port.ts). */
  readonly crypto: CryptoPort;
}
