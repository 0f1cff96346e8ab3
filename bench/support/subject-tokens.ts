/**
 * Distinct, pre-signed subject tokens shaped like GitHub Actions ID tokens (the claim fixture in
 * test/fixtures/claims), signed RS256 with the loopback IdP's key on worker threads.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { JWK } from 'jose';
import { fixtureClaims } from '../../test/support/loopback-idp.ts';

export interface SignJob {
  readonly privateJwk: JWK;
  readonly kid: string;
  /** When set, every token gets its own kid `<prefix>-<i>`, unknown to the IdP (a kid storm). */
  readonly kidPrefix?: string | undefined;
  readonly claims: Record<string, unknown>;
  readonly tag: string;
  readonly from: number;
  readonly to: number;
}

export interface TokenBatch {
  readonly privateJwk: JWK;
  readonly kid: string;
  readonly issuer: string;
  readonly count: number;
  readonly tag: string;
  readonly kidPrefix?: string;
}

/** GitHub-shaped claims for the bench: valid for an hour, so a slow run never sees expiry. */
export function benchClaims(issuer: string, now: number): Record<string, unknown> {
  return fixtureClaims('github-actions', now, { iss: issuer, aud: 'argo-sts', exp: now + 3600 });
}

export async function presignTokens(batch: TokenBatch): Promise<string[]> {
  const claims = benchClaims(batch.issuer, Math.floor(Date.now() / 1000));
  const threads = Math.max(1, Math.min(availableParallelism(), Math.ceil(batch.count / 500)));
  const per = Math.ceil(batch.count / threads);
  const parts = await Promise.all(Array.from({ length: threads }, (_, t) => {
    const job: SignJob = {
      privateJwk: batch.privateJwk,
      kid: batch.kid,
      kidPrefix: batch.kidPrefix,
      claims,
      tag: batch.tag,
      from: t * per,
      to: Math.min(batch.count, (t + 1) * per),
    };
    return new Promise<string[]>((resolve, reject) => {
      const worker = new Worker(new URL('./sign-worker.ts', import.meta.url), { workerData: job });
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  }));
  return parts.flat();
}
