/**
 * /metrics on Node (`npm start --silent`): Prometheus text with exchanges by decision, reason,
 * idp and policy, the latency histogram, IdP key fetches, the signing key's age and the durable
 * audit writes — and a request id on every response, matching the audit row.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditedGithubConfig, signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { loopbackServerEnv, type SpawnedServer, spawnServer } from '../support/spawn-server.ts';
import { idTokenExchangeForm } from '../support/token-requests.ts';

let github: LoopbackIdp;
let dir: string;
let server: SpawnedServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'argo-sts-metrics-'));
  github = await startLoopbackIdp();
  const configPath = join(dir, 'argo-sts.yaml');
  writeFileSync(configPath, auditedGithubConfig({ issuer: 'https://sts.metrics.test', githubIssuer: github.issuer, dir }));
  server = await spawnServer(loopbackServerEnv(configPath, await signingKeysEnv()));
});

afterAll(async () => {
  await server?.stop();
  await github?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function exchange(params: Record<string, string> = {}) {
  const now = Math.floor(Date.now() / 1000);
  const res = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: idTokenExchangeForm({
      subject_token: await github.sign(fixtureClaims('github-actions', now, { iss: github.issuer, jti: crypto.randomUUID() })),
      ...params,
    }),
  });
  await res.body?.cancel();
  return { status: res.status, requestId: res.headers.get('x-request-id')! };
}

/** The sum of a metric's samples whose labels include `labels` (undefined when none matches). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum = (sum ?? 0) + Number(match[3]);
  }
  return sum;
}

async function scrape(): Promise<string> {
  const res = await fetch(`${server.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  return res.text();
}

describe('/metrics on Node', () => {
  it('counts exchanges by decision, reason, idp and policy, and times them', async () => {
    expect((await exchange()).status).toBe(200);
    expect((await exchange()).status).toBe(200);
    expect((await exchange({ scope: 'argo:manage' })).status).toBe(400);
    const text = await scrape();
    expect(sample(text, 'argo_sts_exchanges_total', { endpoint: 'token', decision: 'issued', reason: '', idp: 'github', policy: 'ci-main' })).toBe(2);
    expect(sample(text, 'argo_sts_exchanges_total', { endpoint: 'token', decision: 'denied', reason: 'ERR_SCOPE_NOT_ALLOWED', idp: 'github' })).toBe(1);
    expect(sample(text, 'argo_sts_exchange_duration_seconds_count', { endpoint: 'token', decision: 'issued' })).toBe(2);
    expect(sample(text, 'argo_sts_exchange_duration_seconds_bucket', { endpoint: 'token', decision: 'issued', le: '+Inf' })).toBe(2);
  });

  it('counts IdP key fetches, reports the signing key age and the durable audit writes', async () => {
    const text = await scrape();
    const origin = new URL(github.issuer).origin;
    expect(sample(text, 'argo_sts_jwks_fetches_total', { origin, kind: 'jwks', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    const age = /^argo_sts_signing_key_age_seconds\{kid="[^"]+",alg="ES256"\} (\S+)$/m.exec(text);
    expect(Number(age?.[1])).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'argo_sts_audit_write_duration_seconds_count', { outcome: 'committed' })).toBe(3);
    expect(sample(text, 'argo_sts_audit_write_failures_total')).toBe(0);
    expect(text).toContain('argo_sts_process_resident_memory_bytes');
  });

  it('counts a failed durable write, and the refused exchange carries its reason', async () => {
    const db = new DatabaseSync(join(dir, 'audit.db'));
    db.exec("CREATE TRIGGER refuse_writes BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'refused'); END");
    try {
      expect((await exchange()).status).toBe(503);
    } finally {
      db.exec('DROP TRIGGER refuse_writes');
      db.close();
    }
    const text = await scrape();
    expect(sample(text, 'argo_sts_audit_write_failures_total')).toBe(1);
    expect(sample(text, 'argo_sts_audit_write_duration_seconds_count', { outcome: 'failed' })).toBe(1);
    expect(sample(text, 'argo_sts_exchanges_total', { endpoint: 'token', decision: 'denied', reason: 'ERR_AUDIT_UNAVAILABLE', idp: 'github', policy: 'ci-main' })).toBe(1);
  });

  it('answers every request with an X-Request-Id that names its audit row', async () => {
    const { requestId } = await exchange();
    const db = new DatabaseSync(join(dir, 'audit.db'), { readOnly: true });
    const rows = db.prepare('SELECT decision FROM audit_events WHERE request_id = ?').all(requestId);
    db.close();
    expect(rows).toEqual([{ decision: 'issued' }]);
  });
});
