/**
 * Two replicas behave as one broker when they share one PostgreSQL database (DESIGN.md "Self-hosting
 * at scale"): two `npm start` processes, as an operator starts them, on one real server
 * (test/support/postgres-server.ts) with `audit.sink: postgres` and `state.store: postgres`.
 * A single-use token presented to both at once is exchanged once; a per-subject budget holds across
 * both; `argo-sts audit` reads their rows; the database stopped and started again mid-load gives
 * 503s and never a token without its row, and the replicas recover without a restart; a replica
 * SIGKILLed mid-load loses no row of any token a client received. Loopback only; every load is
 * bounded in count and time.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { type PostgresServer, startPostgres } from '../support/postgres-server.ts';
import { runCliCaptured } from '../support/run-cli.ts';
import { groupAlive, loopbackServerEnv, type SpawnedServer, spawnServer, spawnServerToExit } from '../support/spawn-server.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Bounds of the loads below: requests in all, and wall time (each load test's timeout is above it). */
// maxRequests bounds the loop; the control ends the load as soon as it has seen what it waits for, so
// the bound is generous: 503s during a slow database restart must not use up the requests its
// recovery needs (a loaded host made 3 000 run out before the restart finished).
// Wall time: recovery after a database restart (the pool reconnecting, queries cut at their 6 s
// deadline meanwhile) took over 20 s on a host running the whole suite at once; 40 s per phase.
/**
 * Each phase of the outage and kill tests waits at most phaseMs; the clients stop when the test's
 * control is done, or at deadlineMs, a bound above the sum of the phases (four of them, plus the
 * database's restart), so that a slow host never starves the last phase of load.
 */
const LOAD = { clients: 8, maxRequests: 20_000, phaseMs: 40_000, deadlineMs: 200_000 } as const;
const LOAD_TEST_TIMEOUT_MS = LOAD.deadlineMs + 30_000;
const BUDGET = 5;

let pg: PostgresServer;
let github: LoopbackIdp;
let budgeted: LoopbackIdp;
let dir: string;
let configPath: string;
let env: Record<string, string>;
let replicas: SpawnedServer[] = [];

function config(): string {
  return `
issuer: https://sts.replicas.test
signing: { alg: ES256, keys: env:SIGNING_KEYS }
database: env:ARGO_STS_DATABASE_URL
audit: { sink: postgres }
state: { store: postgres }
idps:
  - { name: github, issuer: ${github.issuer}, audiences: [argo-sts], preset: github-actions, single_use: true }
  - name: budget
    issuer: ${budgeted.issuer}
    audiences: [argo-sts]
    preset: github-actions
    rate_limit: { per_subject: { requests: ${BUDGET}, per: 1h } }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - { id: ci-main, idp: github, target: argo-prod, subject: "repo:acme/app:ref:refs/heads/main", namespaces: [ci], scopes: [argo:submit] }
  - { id: budgeted, idp: budget, target: argo-prod, subject: "repo:acme/app:ref:refs/heads/main", namespaces: [ci], scopes: [argo:submit] }
`;
}

beforeAll(async () => {
  [pg, github, budgeted] = await Promise.all([startPostgres(), startLoopbackIdp(), startLoopbackIdp()]);
  dir = mkdtempSync(join(tmpdir(), 'argo-sts-replicas-'));
  configPath = join(dir, 'argo-sts.yaml');
  writeFileSync(configPath, config());
  env = loopbackServerEnv(configPath, { ...(await signingKeysEnv()), ARGO_STS_DATABASE_URL: pg.url });
  replicas = await Promise.all([spawnServer(env), spawnServer(env)]);
});

afterAll(async () => {
  for (const replica of replicas) if (groupAlive(replica.pid)) await replica.stop();
  await Promise.all([github?.close(), budgeted?.close()]);
  await pg?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A fresh subject token (and jti) from an issuer, as a CI job presents one. */
function subjectToken(idp: LoopbackIdp): Promise<string> {
  return idp.sign(fixtureClaims('github-actions', Math.floor(Date.now() / 1000), { iss: idp.issuer, jti: crypto.randomUUID() }));
}

interface Answer {
  readonly status: number;
  readonly error?: string;
  /** The minted token's jti, when one was issued. */
  readonly jti?: string;
  readonly retryAfter?: string | null;
}

async function exchange(replica: SpawnedServer, subject: string): Promise<Answer> {
  const res = await fetch(`${replica.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      subject_token: subject,
    }),
    signal: AbortSignal.timeout(15_000),
  });
  const body = (await res.json()) as { access_token?: string; error?: string };
  return {
    status: res.status,
    error: body.error,
    jti: res.status === 200 && body.access_token ? (decodeJwt(body.access_token).jti as string) : undefined,
    retryAfter: res.headers.get('retry-after'),
  };
}

async function issuedJtis(): Promise<Set<string>> {
  return new Set((await pg.psql("SELECT jti FROM audit_events WHERE decision = 'issued'")).split('\n').filter(Boolean));
}

/**
 * Clients alternating between the live replicas with fresh tokens while `control` runs (or until
 * the bounds are reached). Every token a client received is kept with the replica that issued it.
 */
async function load(replicasUnderLoad: () => readonly SpawnedServer[], control: (s: LoadState) => Promise<void>) {
  const state: LoadState = { sent: 0, inFlight: 0, received: [], statuses: [], done: false };
  const deadline = Date.now() + LOAD.deadlineMs;
  let turn = 0;
  const client = async () => {
    while (!state.done && state.sent < LOAD.maxRequests && Date.now() < deadline) {
      state.sent++;
      const live = replicasUnderLoad();
      const replica = live[turn++ % live.length]!;
      const token = await subjectToken(github);
      state.inFlight++;
      try {
        const answer = await exchange(replica, token);
        state.statuses.push({ status: answer.status, error: answer.error });
        if (answer.jti) state.received.push({ jti: answer.jti, pid: replica.pid, at: Date.now() });
        if (answer.status === 503) await sleep(50);
      } catch {
        // the replica died under this request (or it timed out): the client got no token, and
        // backs off as a client would, instead of spinning on a refused connection
        await sleep(50);
      } finally {
        state.inFlight--;
      }
    }
  };
  const controller = control(state).finally(() => {
    state.done = true;
  });
  await Promise.all([controller, ...Array.from({ length: LOAD.clients }, () => client())]);
  return state;
}

interface LoadState {
  sent: number;
  inFlight: number;
  received: { jti: string; pid: number; at: number }[];
  statuses: { status: number; error?: string | undefined }[];
  done: boolean;
}

/** The replicas' operator lines (stderr carries no tokens), for a failure message: what a flaky run leaves to read. */
function replicaLogs(): string {
  return replicas.map((r) => `replica ${r.pid}:\n  ${r.stderr.slice(-25).join('\n  ')}`).join('\n');
}

/** Waits until `condition` holds, at most `ms`; `step` (a probe) runs before each look. */
async function until(condition: () => boolean, ms: number, step?: () => Promise<void>): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    await step?.();
    if (condition()) return true;
    if (Date.now() > deadline) return false;
    await sleep(step ? 200 : 10);
  }
}

describe('two replicas on one PostgreSQL database', () => {
  it('exchange a single-use token presented to both at the same instant exactly once', async () => {
    for (let round = 0; round < 6; round++) {
      const token = await subjectToken(github);
      const answers = await Promise.all([0, 1, 0, 1].map((i) => exchange(replicas[i]!, token)));
      expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
      expect(answers.filter((a) => a.status === 400 && a.error === 'invalid_request')).toHaveLength(3);
    }
  });

  it('hold a per-subject budget across both: of 12 concurrent requests, exactly the budget is issued', async () => {
    const tokens = await Promise.all(Array.from({ length: 12 }, () => subjectToken(budgeted)));
    const answers = await Promise.all(tokens.map((token, i) => exchange(replicas[i % 2]!, token)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(BUDGET);
    const refused = answers.filter((a) => a.status !== 200);
    expect(refused.map((a) => a.status)).toEqual(Array(12 - BUDGET).fill(429));
    expect(refused.every((a) => Number(a.retryAfter) > 0)).toBe(true);
    expect(await pg.psql("SELECT count(*) FROM audit_events WHERE idp = 'budget' AND decision = 'issued'")).toBe(`${BUDGET}\n`);
  });

  it('write one audit table that `argo-sts audit --database env:NAME` reads as it reads SQLite', async () => {
    const cliEnv = { ARGO_STS_DATABASE_URL: pg.url };
    const json = await runCliCaptured(['audit', '--database', 'env:ARGO_STS_DATABASE_URL', '--idp', 'budget', '--decision', 'issued', '--format', 'json'], { env: cliEnv });
    expect(json.code).toBe(0);
    const events = json.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events).toHaveLength(BUDGET);
    expect(events[0]).toMatchObject({ decision: 'issued', idp: 'budget', policy: 'budgeted', namespace: 'ci', scopes: ['argo:submit'], context: { repository: 'acme/app' } });
    expect(events[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(typeof events[0]!.id).toBe('number');

    // The same filters as on SQLite: globs on the minted subject and the repository, time bounds, limits.
    const globbed = await runCliCaptured(['audit', '--database', 'env:ARGO_STS_DATABASE_URL', '--sub', 'budget:repo:acme/*', '--repository', 'acme/[a]pp', '--since', '1h', '--format', 'json'], { env: cliEnv });
    expect(globbed.stdout.trim().split('\n').map((l) => JSON.parse(l).idp)).toEqual(expect.arrayContaining(['budget']));
    expect(globbed.stdout.trim().split('\n').every((l) => JSON.parse(l).idp === 'budget')).toBe(true);
    const none = await runCliCaptured(['audit', '--database', 'env:ARGO_STS_DATABASE_URL', '--sub', 'nobody*', '--until', '2000-01-01T00:00:00Z'], { env: cliEnv });
    expect(none).toMatchObject({ code: 0, stdout: 'no matching audit events\n' });

    // From the config, as an operator on the replicas' host runs it.
    const fromConfig = await runCliCaptured(['audit', '--config', configPath, '--decision', 'denied', '--limit', '2', '--format', 'csv'], { env: cliEnv });
    expect(fromConfig.code).toBe(0);
    expect(fromConfig.stdout.split('\r\n').filter(Boolean)).toHaveLength(3);
    expect(fromConfig.stdout).toContain('ERR_TOKEN_REPLAYED');
  });

  it('answer 503 while the database is down, never a token without its row, and recover without a restart', async () => {
    const pids = replicas.map((r) => r.pid);
    let restartedAt = Infinity;
    const state = await load(() => replicas, async (s) => {
      expect(await until(() => s.received.length >= 30, LOAD.phaseMs)).toBe(true);
      await pg.stop();
      // While it is down: 503s (bounded wait), then the server comes back on the same port.
      await until(() => s.statuses.filter((x) => x.status === 503).length >= 20, 5_000);
      expect((await fetch(`${replicas[0]!.url}/readyz`)).status).toBe(503);
      await pg.start();
      restartedAt = Date.now();
      const after = (pid: number) => s.received.filter((r) => r.pid === pid && r.at > restartedAt).length;
      const recovered = await until(() => pids.every((pid) => after(pid) >= 10), LOAD.phaseMs);
      expect(recovered, `tokens per replica since the restart: ${pids.map(after).join(', ')}; last answers ${JSON.stringify(s.statuses.slice(-10))}\n${replicaLogs()}`).toBe(true);
      // Ready again (a probe may meet a pooled connection the restart closed: bounded polling).
      let ready = 0;
      await until(() => ready === 200, 10_000, async () => {
        ready = (await fetch(`${replicas[0]!.url}/readyz`)).status;
      });
      expect(ready).toBe(200);
    });
    const statuses = new Set(state.statuses.map((s) => s.status));
    expect([...statuses].sort()).toEqual([200, 503]);
    expect(state.statuses.filter((s) => s.status === 503).every((s) => s.error === 'temporarily_unavailable')).toBe(true);
    // The same processes served before, during and after: no restart.
    expect(replicas.map((r) => r.pid)).toEqual(pids);
    expect(replicas.every((r) => groupAlive(r.pid))).toBe(true);
    const stored = await issuedJtis();
    expect(state.received.filter((r) => !stored.has(r.jti))).toEqual([]);
    for (const replica of replicas) {
      expect(replica.stderr.some((line) => line.startsWith('database: spending a single-use token failed ('))).toBe(true);
    }
  }, LOAD_TEST_TIMEOUT_MS);

  it('lose no audit row of any token a client received when one replica is SIGKILLed mid-load', async () => {
    const [victim, survivor] = replicas as [SpawnedServer, SpawnedServer];
    let killed = false;
    let receivedAtKill = 0;
    const state = await load(() => (killed ? [survivor] : replicas), async (s) => {
      // The kill lands while requests are open at the server (npm and node alike: no chance to flush).
      const loaded = await until(() => s.received.filter((r) => r.pid === victim.pid).length >= 40 && s.inFlight >= 4, LOAD.phaseMs);
      expect(loaded, `tokens from the victim: ${s.received.filter((r) => r.pid === victim.pid).length}, in flight ${s.inFlight}\n${replicaLogs()}`).toBe(true);
      process.kill(-victim.pid, 'SIGKILL');
      killed = true;
      receivedAtKill = s.received.length;
      expect(await until(() => !groupAlive(victim.pid), 10_000)).toBe(true);
      // The survivor goes on serving alone.
      expect(await until(() => s.received.length >= receivedAtKill + 40, LOAD.phaseMs)).toBe(true);
    });
    expect(killed).toBe(true);
    const stored = await issuedJtis();
    expect(new Set(state.received.map((r) => r.jti)).size).toBe(state.received.length);
    expect(state.received.filter((r) => !stored.has(r.jti))).toEqual([]);
    expect(state.received.filter((r) => r.pid === survivor.pid).length).toBeGreaterThan(40);
  }, LOAD_TEST_TIMEOUT_MS);

  it('refuse to start, in one line and exit code 2, on a database they cannot reach', async () => {
    const unreachable = pg.url.replace(`:${pg.port}/`, ':1/');
    const exited = await spawnServerToExit({ ...env, ARGO_STS_DATABASE_URL: unreachable });
    expect(exited.code).toBe(2);
    expect(exited.stderr.filter(Boolean)).toEqual(['argo-sts: database: cannot connect to PostgreSQL or migrate its schema (Error ECONNREFUSED)']);
  });

  it('log no token and no database password, on stdout or stderr', () => {
    const password = new URL(pg.url).password;
    for (const replica of replicas) {
      const text = [...replica.stdout, ...replica.stderr].join('\n');
      expect(text).not.toContain(password);
      expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
    }
  });
});
