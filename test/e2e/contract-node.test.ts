/**
 * The contract (test/support/contract-cases.ts) against the Node runtime as an operator runs it:
 * `npm start --silent`, the config in a file, the signing keys in the environment, a SQLite
 * audit sink, two loopback issuers. The same cases run against the Worker in
 * contract-worker.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll } from 'vitest';
import { type ContractIdps, contractConfig, describeContract } from '../support/contract-cases.ts';
import { signingKeysEnv } from '../support/configs.ts';
import { startLoopbackIdp } from '../support/loopback-idp.ts';
import { loopbackServerEnv, type SpawnedServer, spawnServer } from '../support/spawn-server.ts';

let dir: string;
let idps: ContractIdps;
let server: SpawnedServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'argo-sts-contract-node-'));
  idps = { github: await startLoopbackIdp(), runner: await startLoopbackIdp() };
  const configPath = join(dir, 'argo-sts.yaml');
  writeFileSync(configPath, contractConfig(idps, `sqlite:${join(dir, 'audit.db')}`));
  server = await spawnServer(loopbackServerEnv(configPath, await signingKeysEnv()));
});

afterAll(async () => {
  await server?.stop();
  await idps?.github.close();
  await idps?.runner.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describeContract({
  runtime: 'node',
  idps: () => idps,
  broker: () => ({
    url: server.url,
    output: () => [...server.stdout, ...server.stderr],
    auditRows(where, value) {
      const db = new DatabaseSync(join(dir, 'audit.db'), { readOnly: true });
      try {
        return db.prepare(`SELECT * FROM audit_events WHERE ${where} = ?`).all(value) as Record<string, unknown>[];
      } finally {
        db.close();
      }
    },
  }),
});
