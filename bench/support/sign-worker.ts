/**
 * A worker thread that signs subject tokens with node:crypto (RS256), so a bench run can pre-sign
 * tens of thousands of distinct tokens on every core before any load starts.
 */
import { createPrivateKey, sign } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import type { SignJob } from './subject-tokens.ts';

const job = workerData as SignJob;
const key = createPrivateKey({ key: job.privateJwk, format: 'jwk' });
const b64 = (text: string) => Buffer.from(text).toString('base64url');
const tokens: string[] = [];
for (let i = job.from; i < job.to; i++) {
  const kid = job.kidPrefix === undefined ? job.kid : `${job.kidPrefix}-${i}`;
  const header = b64(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));
  // Distinct jti and run_id per token: nothing keyed on the token can be reused between requests.
  const payload = b64(JSON.stringify({ ...job.claims, jti: `bench-${job.tag}-${i}`, run_id: String(11_000_000_000 + i) }));
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), key).toString('base64url');
  tokens.push(`${header}.${payload}.${signature}`);
}
parentPort!.postMessage(tokens);
