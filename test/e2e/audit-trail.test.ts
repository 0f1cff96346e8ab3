/**
 * The audit trail, end to end, as an operator runs argo-sts (`npm start --silent`, a YAML config
 * file, a SQLite sink) in front of a GitHub-shaped loopback issuer: every /token decision leaves
 * exactly one durable row and one stdout line, and when the durable write fails no token leaves
 * the broker.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_SCHEMA_VERSION } from '../../shared/audit/audit-event.ts';
import { signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { loopbackServerEnv, type SpawnedServer, spawnServer } from '../support/spawn-server.ts';
import { idTokenExchangeForm } from '../support/token-requests.ts';

let github: LoopbackIdp;
let dir: string;
let signingKeys: { SIGNING_KEYS: string };

function configFile(name: string, dbPath: string, extra = ''): string {
  const path = join(dir, name);
  writeFileSync(path, `
issuer: https://sts.audit.test
signing: { alg: ES256, keys: env:SIGNING_KEYS }
idps:
  - { name: github, issuer: ${github.issuer}, audiences: [argo-sts], preset: github-actions }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - id: ci-main
    idp: github
    target: argo-prod
    subject: repo:acme/app:ref:refs/heads/main
    namespaces: [ci]
    scopes: [argo:submit, argo:read]
audit:
  sink: "sqlite:${dbPath}"
${extra}
`);
  return path;
}

function start(configPath: string): Promise<SpawnedServer> {
  return spawnServer(loopbackServerEnv(configPath, signingKeys));
}

async function githubToken(claims: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return github.sign(fixtureClaims('github-actions', now, { iss: github.issuer, jti: crypto.randomUUID(), ...claims }));
}

interface Answer {
  readonly status: number;
  readonly requestId: string;
  readonly body: Record<string, any>;
}

async function post(server: SpawnedServer, body: string, contentType = 'application/x-www-form-urlencoded'): Promise<Answer> {
  const res = await fetch(`${server.url}/token`, { method: 'POST', headers: { 'content-type': contentType, 'user-agent': 'audit-e2e/1.0' }, body });
  return { status: res.status, requestId: res.headers.get('x-request-id')!, body: (await res.json()) as Record<string, any> };
}

function form(params: Record<string, string>): string {
  return idTokenExchangeForm({ audience: 'argo-prod', ...params }).toString();
}

function rows(dbPath: string): Record<string, any>[] {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    return db.prepare('SELECT * FROM audit_events ORDER BY id').all() as Record<string, any>[];
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'argo-sts-audit-'));
  signingKeys = await signingKeysEnv();
  github = await startLoopbackIdp();
});

afterAll(async () => {
  await github?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('every /token decision is audited exactly once', () => {
  let server: SpawnedServer;
  const dbPath = () => join(dir, 'decisions.db');
  beforeAll(async () => {
    server = await start(configFile('decisions.yaml', dbPath(), '  redact: [client_ip, email]'));
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('writes one durable row and one stdout line, keyed by the X-Request-Id, for issued and denied decisions alike', async () => {
    const answers = await Promise.all([
      post(server, form({ subject_token: await githubToken() })),
      post(server, form({ subject_token: await githubToken({ email: 'dev@acme.example' }) })),
      post(server, form({ subject_token: await githubToken(), scope: 'argo:manage' })),
      post(server, form({ subject_token: await githubToken({ sub: 'repo:evil/app:ref:refs/heads/main' }) })),
      post(server, form({ subject_token: await githubToken({ aud: 'someone-else' }) })),
      post(server, form({ subject_token: 'not-a-jwt' })),
      post(server, form({ subject_token: await githubToken(), grant_type: 'client_credentials' })),
      post(server, '{"this is": not json', 'application/json'),
      post(server, form({ subject_token: await githubToken(), audience: 'no-such-target' })),
    ]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 400, 400, 400, 400, 400, 400, 400]);

    await server.stop(); // every line flushed, the database closed
    const lines = server.jsonLines().filter((l) => l.type === 'audit');
    const stored = rows(dbPath());
    for (const answer of answers) {
      const line = lines.filter((l) => l.request_id === answer.requestId);
      const matching = stored.filter((r) => r.request_id === answer.requestId);
      expect(line, `stdout lines for ${answer.requestId}`).toHaveLength(1);
      expect(matching, `rows for ${answer.requestId}`).toHaveLength(1);
      const row = matching[0]!;
      expect(row.decision).toBe(line[0]!.decision);
      expect(row.decision).toBe(answer.status === 200 ? 'issued' : 'denied');
      if (answer.status === 200) {
        expect(row.jti).toBe(decodeJwt(answer.body.access_token).jti);
        expect(row).toMatchObject({ idp: 'github', sub: 'repo:acme/app:ref:refs/heads/main', policy: 'ci-main', namespace: 'ci', scopes: 'argo:submit argo:read', ttl: 600 });
      } else {
        expect(row.jti).toBeNull();
        expect(row.check_id).toBe(answer.body.check);
      }
    }
    expect(lines).toHaveLength(answers.length);
    expect(stored).toHaveLength(answers.length);
  });

  it('stores the event schema version, the subject token hash, the context claims and what was redacted', () => {
    const issued = rows(dbPath()).filter((r) => r.decision === 'issued');
    for (const row of issued) {
      expect(row.v).toBe(AUDIT_SCHEMA_VERSION);
      expect(row.subject_token_sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(row.user_agent).toBe('audit-e2e/1.0');
      expect(row.client_ip).toBeNull();
      const context = JSON.parse(row.context);
      expect(context).toMatchObject({ repository: 'acme/app', workflow: expect.any(String), run_id: expect.any(String) });
      expect(context.email).toBeUndefined();
      expect(row.redacted).toMatch(/client_ip/);
    }
    expect(issued.some((r) => r.redacted === 'client_ip email')).toBe(true);
    // No token, subject or minted, ever reaches stdout.
    expect(server.stdout.join('\n')).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
    expect(server.stdout.join('\n')).not.toContain('dev@acme.example');
  });
});

describe('when the durable sink refuses writes', () => {
  it('answers 503 temporarily_unavailable with no token, logs the unstored event on stdout, and still answers denials', async () => {
    const dbPath = join(dir, 'refusing.db');
    const server = await start(configFile('refusing.yaml', dbPath));
    try {
      const ok = await post(server, form({ subject_token: await githubToken() }));
      expect(ok.status).toBe(200);

      // A real SQLite failure inside the running server: every INSERT now aborts.
      const db = new DatabaseSync(dbPath);
      db.exec("CREATE TRIGGER refuse_writes BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'disk refuses writes'); END");
      db.close();

      const refused = await post(server, form({ subject_token: await githubToken() }));
      expect(refused.status).toBe(503);
      expect(refused.body).toMatchObject({ error: 'temporarily_unavailable', check: 'unavailable', request_id: refused.requestId });
      expect(refused.body.access_token).toBeUndefined();
      const lines = await server.waitForAudit(refused.requestId);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ decision: 'denied', error: 'ERR_AUDIT_UNAVAILABLE' });
      const failure = server.jsonLines().find((l) => l.type === 'audit_failure' && l.request_id === refused.requestId);
      expect(failure).toMatchObject({ event: { request_id: refused.requestId, decision: 'issued', sub: 'repo:acme/app:ref:refs/heads/main' } });

      const denied = await post(server, form({ subject_token: await githubToken(), scope: 'argo:manage' }));
      expect(denied.status).toBe(400);
      expect(denied.body.error).toBe('invalid_scope');
    } finally {
      await server.stop();
    }
    expect(rows(dbPath).map((r) => r.decision)).toEqual(['issued']);
  });
});
