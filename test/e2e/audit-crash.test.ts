/**
 * Nothing is lost on a crash: argo-sts runs as an operator starts it (`npm start --silent`, its
 * own process group), clients exchange tokens concurrently, the whole group is SIGKILLed in the
 * middle of the load, and after a restart on the same SQLite file every token a client received
 * has its audit row.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditedGithubConfig, signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { groupAlive, loopbackServerEnv, type SpawnedServer, spawnServer } from '../support/spawn-server.ts';

/** The load: bounded in count and time, loopback only. */
const LOAD = {
  clients: 16,
  /** SIGKILL once this many tokens have reached clients; the other requests are in flight. */
  killAfterTokens: 120,
  maxRequests: 2_000,
} as const;

let github: LoopbackIdp;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'argo-sts-crash-'));
  github = await startLoopbackIdp();
  const configPath = join(dir, 'argo-sts.yaml');
  writeFileSync(configPath, auditedGithubConfig({ issuer: 'https://sts.crash.test', githubIssuer: github.issuer, dir }));
  env = loopbackServerEnv(configPath, await signingKeysEnv());
});

afterAll(async () => {
  await github?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a crash in the middle of a load', () => {
  it('loses no audit row of any token a client received', async () => {
    const now = Math.floor(Date.now() / 1000);
    // A fresh subject token (and jti) per request, as CI jobs present them.
    const subjectToken = () => github.sign(fixtureClaims('github-actions', now, { iss: github.issuer, jti: crypto.randomUUID() }));
    const server: SpawnedServer = await spawnServer(env);
    const received: string[] = [];
    let sent = 0;
    let inFlight = 0;
    let killed = false;

    const client = async () => {
      while (!killed && sent < LOAD.maxRequests) {
        sent++;
        const token = await subjectToken();
        if (killed) break;
        inFlight++;
        try {
          const res = await fetch(`${server.url}/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({
              grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
              subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
              subject_token: token,
            }),
          });
          const body = (await res.json()) as { access_token?: string };
          if (res.status === 200 && body.access_token) received.push(decodeJwt(body.access_token).jti as string);
        } catch {
          // the server died under this request: the client got no token
        } finally {
          inFlight--;
        }
      }
    };
    // The killer waits until enough tokens were received AND requests are open at the server, so the
    // kill lands in the middle of the load (npm and node alike, no chance to flush or close).
    const killer = (async () => {
      while (!killed && sent < LOAD.maxRequests) {
        if (received.length >= LOAD.killAfterTokens && inFlight >= 2) {
          killed = true;
          process.kill(-server.pid, 'SIGKILL');
          break;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await Promise.all([killer, ...Array.from({ length: LOAD.clients }, () => client())]);
    expect(killed).toBe(true);
    while (groupAlive(server.pid)) await new Promise((resolve) => setTimeout(resolve, 20));
    // The killer fired only while requests were open, so the kill landed mid-load; requests that died
    // with the server gave their clients no token (and so need no row).

    // Restart on the same file: the WAL is recovered and the server serves again.
    const restarted = await spawnServer(env);
    try {
      expect((await fetch(`${restarted.url}/readyz`)).status).toBe(200);
      const db = new DatabaseSync(join(dir, 'audit.db'), { readOnly: true });
      const stored = new Set((db.prepare("SELECT jti FROM audit_events WHERE decision = 'issued'").all() as { jti: string }[]).map((r) => r.jti));
      db.close();
      const missing = received.filter((jti) => !stored.has(jti));
      expect(received.length).toBeGreaterThanOrEqual(LOAD.killAfterTokens);
      expect(missing).toEqual([]);
    } finally {
      await restarted.stop();
    }
  });
});
