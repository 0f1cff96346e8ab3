/**
 * The contract (test/support/contract-cases.ts) against the Worker in real workerd, started as an
 * operator tries it: `wrangler dev`, the config and signing keys as Worker vars, the
 * StsCoordinator Durable Object for single-use tokens and rate limits, and a local D1 database
 * (miniflare's) as the audit sink. The same cases run against Node in contract-node.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { type ContractIdps, contractConfig, describeContract } from '../support/contract-cases.ts';
import { signingKeysEnv } from '../support/configs.ts';
import { startLoopbackIdp } from '../support/loopback-idp.ts';
import { AUDIT_D1_BINDING, type SpawnedWorker, spawnWorker } from '../support/spawn-worker.ts';

let dir: string;
let idps: ContractIdps;
let worker: SpawnedWorker;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'argo-sts-contract-worker-'));
  idps = { github: await startLoopbackIdp(), runner: await startLoopbackIdp() };
  worker = await spawnWorker(dir, { ARGO_STS_CONFIG: contractConfig(idps, `d1:${AUDIT_D1_BINDING}`), ...(await signingKeysEnv()) });
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await idps?.github.close();
  await idps?.runner.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describeContract({
  runtime: 'workers',
  idps: () => idps,
  broker: () => ({ url: worker.url, output: () => [...worker.stdout, ...worker.stderr], auditRows: (where, value) => worker.auditRows(where, value) }),
});
