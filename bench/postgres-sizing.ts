/**
 * Sizing figures for docs/operations.md: argo-sts on one PostgreSQL database (audit.sink: postgres,
 * state.store: postgres, every token single-use and rate-limited per subject) as one replica and as
 * two, beside one replica on SQLite with memory state; the audit sink's group commit against one
 * commit per row; then what the database holds per row.
 *
 *   node bench/postgres-sizing.ts            # ~2 min on 2 vCPUs; prints a Markdown table and one JSON line
 *   SIZING_SECONDS=5 node bench/postgres-sizing.ts
 *
 * Everything runs on this machine and on loopback: a PostgreSQL server of its own
 * (test/support/postgres-server.ts, Debian's packages), the loopback IdP, the replicas
 * (functions/node.ts, as npm start runs it) and autocannon (bench/load.ts) in its own process per
 * replica. Nothing is pinned: the servers, the database and the load share the cores, as they
 * would on one small host. Every phase is bounded by a request count and a duration.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatePrivateJwks } from '../shared/keys/signing-keys.ts';
import { startLoopbackIdp } from '../test/support/loopback-idp.ts';
import { startPostgres } from '../test/support/postgres-server.ts';
import type { LoadResult, LoadSpec } from './load.ts';
import { cpuSeconds, NODE, NODE_FLAGS, runJsonScript, stopGroup, waitForLine } from './support/processes.ts';
import { benchBrokerConfig, exchangeBody } from './support/broker-config.ts';
import { presignTokens } from './support/subject-tokens.ts';
import type { AuditEvent } from '../shared/audit/audit-event.ts';
import { auditRow } from '../shared/audit/audit-schema.ts';
import { openDatabase, type SqlValue } from '../functions/node/postgres/database.ts';
import { POSTGRES_AUDIT_INSERT, PostgresAuditSink } from '../functions/node/postgres/audit-sink.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const SECONDS = Number(process.env.SIZING_SECONDS ?? 8);
const PLAN = { warmup: 1_000, perReplica: 15_000, connections: 32, startMs: 30_000 } as const;

interface Phase {
  readonly name: string;
  readonly replicas: number;
  readonly store: 'sqlite' | 'postgres';
}

const PHASES: readonly Phase[] = [
  { name: 'one replica, SQLite sink, memory state', replicas: 1, store: 'sqlite' },
  { name: 'one replica, PostgreSQL sink and state', replicas: 1, store: 'postgres' },
  { name: 'two replicas, one PostgreSQL database', replicas: 2, store: 'postgres' },
];

/** CPU seconds of the PostgreSQL server: the postmaster and every process it started (Linux /proc). */
function postgresCpuSeconds(dataDir: string): number {
  const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  let total = cpuSeconds(postmaster);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === postmaster) total += cpuSeconds(Number(entry));
    } catch { /* gone meanwhile */ }
  }
  return total;
}

async function startReplica(configPath: string, env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(NODE, [...NODE_FLAGS, join(REPO, 'functions/node.ts')], {
    cwd: REPO,
    detached: true,
    env: { ...process.env, ...env, ARGO_STS_CONFIG_FILE: configPath, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const [, url] = await waitForLine(child, 'stderr', /^argo-sts: serving \S+ on (http:\/\/\S+)$/, PLAN.startMs);
  return { child, url: url! };
}

/**
 * The audit sink alone, 32 writers at once on a pool of 10: one INSERT per row (each its own commit)
 * against the sink's group commit (one multi-row INSERT per loop turn). Rows per second.
 */
async function auditWrites(url: string): Promise<{ rowPerCommit: number; groupCommit: number }> {
  const db = openDatabase(url);
  const sink = new PostgresAuditSink(db);
  const event = (): AuditEvent => ({
    v: 3, time: new Date().toISOString(), request_id: crypto.randomUUID(), endpoint: 'token', decision: 'issued', idp: 'github',
    sub: 'repo:acme/app:ref:refs/heads/main', scopes: ['argo:submit'], ttl: 600, jti: crypto.randomUUID(), context: { repository: 'acme/app' },
  });
  const rate = async (write: () => Promise<unknown>) => {
    const rows = 4_000;
    let started = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (started++ < rows) await write();
    }));
    return Math.round(rows / ((performance.now() - t0) / 1000));
  };
  try {
    const rowPerCommit = await rate(() => db.query(POSTGRES_AUDIT_INSERT, auditRow(event()) as SqlValue[]));
    const groupCommit = await rate(() => sink.record(event()));
    return { rowPerCommit, groupCommit };
  } finally {
    await db.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'argo-sts-sizing-'));
  const [pg, idp] = await Promise.all([startPostgres(), startLoopbackIdp()]);
  const keys = JSON.stringify(await generatePrivateJwks('ES256'));
  const results: Record<string, unknown>[] = [];
  try {
    for (const phase of PHASES) {
      const config: Record<string, unknown> = {
        ...benchBrokerConfig(idp, phase.store === 'sqlite' ? join(dir, `audit-${results.length}.db`) : undefined),
        ...(phase.store === 'postgres' ? { database: 'env:ARGO_STS_DATABASE_URL', audit: { sink: 'postgres' }, state: { store: 'postgres' } } : {}),
      };
      const idps = config.idps as Record<string, unknown>[];
      // Every request spends a jti and takes from two buckets: the state paths are on the hot path.
      idps[0] = { ...idps[0], single_use: true, rate_limit: { per_subject: { requests: 1_000_000, per: '1h' }, per_idp: { requests: 1_000_000, per: '1h' } } };
      const configPath = join(dir, `config-${results.length}.json`);
      writeFileSync(configPath, JSON.stringify(config));
      const env = { ARGO_STS_SIGNING_KEYS: keys, ARGO_STS_DATABASE_URL: pg.url };
      const replicas = await Promise.all(Array.from({ length: phase.replicas }, () => startReplica(configPath, env)));
      try {
        const bodyFiles = await Promise.all(replicas.map(async (_, r) => {
          const tokens = await presignTokens({ privateJwk: idp.privateJwk, kid: idp.kid, issuer: idp.issuer, count: PLAN.warmup + PLAN.perReplica, tag: `${results.length}-${r}` });
          const file = join(dir, `bodies-${results.length}-${r}.txt`);
          writeFileSync(file, tokens.map(exchangeBody).join('\n'));
          return file;
        }));
        const spec = (url: string, bodiesFile: string, amount: number, maxSeconds: number): LoadSpec => ({
          url: `${url}/token`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, bodiesFile, connections: PLAN.connections / phase.replicas, amount, maxSeconds,
        });
        // Warm-up (JIT, pools), then the measured run; the warm-up spends the first bodies of each file.
        await Promise.all(replicas.map((r, i) => runJsonScript<LoadResult>(0, join(REPO, 'bench/load.ts'), spec(r.url, bodyFiles[i]!, PLAN.warmup, 30), 60_000)));
        for (const file of bodyFiles) writeFileSync(file, readFileSync(file, 'utf8').split('\n').slice(PLAN.warmup).join('\n'));
        const cpu0 = replicas.map((r) => cpuSeconds(r.child.pid!));
        const pg0 = postgresCpuSeconds(pg.dataDir);
        const loads = await Promise.all(replicas.map((r, i) => runJsonScript<LoadResult>(0, join(REPO, 'bench/load.ts'), spec(r.url, bodyFiles[i]!, PLAN.perReplica, SECONDS), (SECONDS + 60) * 1000)));
        const serverCpu = replicas.reduce((sum, r, i) => sum + cpuSeconds(r.child.pid!) - cpu0[i]!, 0);
        const dbCpu = phase.store === 'postgres' ? postgresCpuSeconds(pg.dataDir) - pg0 : 0;
        const ok = loads.reduce((sum, l) => sum + l.ok, 0);
        const seconds = Math.max(...loads.map((l) => l.seconds));
        results.push({
          phase: phase.name,
          tokensPerSecond: Math.round(ok / seconds),
          p50Ms: Math.max(...loads.map((l) => l.p50Ms)),
          p99Ms: Math.max(...loads.map((l) => l.p99Ms)),
          non2xx: loads.reduce((sum, l) => sum + l.non2xx + l.errors, 0),
          replicaCpuMsPerToken: Math.round((serverCpu / ok) * 1e6) / 1e3,
          databaseCpuMsPerToken: phase.store === 'postgres' ? Math.round((dbCpu / ok) * 1e6) / 1e3 : null,
        });
      } finally {
        await Promise.all(replicas.map((r) => stopGroup(r.child)));
      }
    }
    const [rows, auditBytes, jtis, jtiBytes, buckets] = (await pg.psql(`SELECT count(*), pg_total_relation_size('audit_events'),
      (SELECT count(*) FROM argo_sts_spent_jtis), pg_total_relation_size('argo_sts_spent_jtis'), (SELECT count(*) FROM argo_sts_rate_buckets) FROM audit_events`)).trim().split('|').map(Number);
    const storage = {
      auditRows: rows, auditBytesPerRow: Math.round(auditBytes! / rows!), auditMiBPerMillionRows: Math.round((auditBytes! / rows!) * 1e6 / 2 ** 20),
      spentJtis: jtis, spentJtiBytesPerRow: Math.round(jtiBytes! / jtis!), rateBuckets: buckets,
    };
    // After the storage figures, which are the broker's rows only.
    const audit = await auditWrites(pg.url);
    console.log('| phase | tokens/s | p50 ms | p99 ms | replica CPU ms/token | database CPU ms/token | non-2xx |');
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const r of results) console.log(`| ${r.phase} | ${r.tokensPerSecond} | ${r.p50Ms} | ${r.p99Ms} | ${r.replicaCpuMsPerToken} | ${r.databaseCpuMsPerToken ?? '–'} | ${r.non2xx} |`);
    console.log(`audit rows/s, 32 writers: one INSERT per commit ${audit.rowPerCommit}, group commit ${audit.groupCommit}`);
    console.log(`storage: ${JSON.stringify(storage)}`);
    console.log(JSON.stringify({ results, audit, storage, seconds: SECONDS, at: new Date().toISOString() }));
  } finally {
    await idp.close();
    await pg.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
