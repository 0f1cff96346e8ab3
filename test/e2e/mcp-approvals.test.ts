/**
 * The approval round trip an agent's user sees: the MCP tool (through the SDK client) answers
 * authorization_pending with the approval link instead of failing; an approver runs
 * `argo-sts approve <id>` with their own token; the tool, called again with approval_id, gets
 * the credential once. Self-approval and denial are refused as they should be.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectArgoStsMcp } from '../support/mcp-client.ts';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeServer } from '../../functions/node/start-server.ts';
import { startInProcessBroker } from '../support/in-process-broker.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { runCliCaptured } from '../support/run-cli.ts';

let people: LoopbackIdp;
let broker: NodeServer;
let dir: string;
let client: Client;
const auditLines: Record<string, any>[] = [];
let aliceToken: string;
let bobToken: string;

type ToolResult = { isError?: boolean; content: { type: string; text: string }[] };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argo-sts-mcp-approvals-'));
  people = await startLoopbackIdp({ path: '/realms/platform' });
  broker = await startInProcessBroker(`
issuer: http://127.0.0.1/sts
signing: { alg: ES256, keys: generate }
idps:
  - { name: keycloak, issuer: ${people.issuer}, audiences: [argo-sts], preset: keycloak }
targets:
  - { name: argo-dev, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - id: people-dev
    idp: keycloak
    target: argo-dev
    claims: { groups: platform-engineers }
    namespaces: [dev]
    scopes: [argo:read, argo:manage]
    approval:
      scopes: [argo:manage]
      approvers: [{ idp: keycloak, claims: { groups: oncall } }]
`, auditLines);
  const now = Math.floor(Date.now() / 1000);
  aliceToken = await people.sign(fixtureClaims('keycloak-access-token', now, { iss: people.issuer, sub: 'alice', groups: ['platform-engineers', 'oncall'] }));
  bobToken = await people.sign(fixtureClaims('keycloak-access-token', now, { iss: people.issuer, sub: 'bob', groups: ['oncall'] }));
  await writeFile(join(dir, 'alice.jwt'), aliceToken);
  client = await connectArgoStsMcp('mcp-approvals', ['--broker', broker.url, '--token-file', join(dir, 'alice.jwt'), '--token-type', 'access_token'], dir);
});

afterAll(async () => {
  await client?.close();
  await broker?.close();
  await people?.close();
  await rm(dir, { recursive: true, force: true });
});

const ask = (extra: Record<string, unknown> = {}) => client.callTool({
  name: 'request_argo_credentials',
  arguments: { audience: 'argo-dev', namespace: 'dev', scopes: ['argo:manage'], reason: 'terminate the runaway workflow wf-42', ...extra },
}) as Promise<ToolResult>;

const cli = (args: string[], token: string) => runCliCaptured([...args, '--broker', broker.url, '--token-env', 'MY_TOKEN'], { env: { MY_TOKEN: token } });

describe('approvals through MCP and the CLI', () => {
  it('passes authorization_pending and the approval link to the user, then issues once after approve', async () => {
    const pending = await ask();
    expect(pending.isError).toBeFalsy();
    const body = JSON.parse(pending.content[0]!.text);
    expect(body).toMatchObject({ status: 'authorization_pending', interval: 5 });
    expect(body.approval_uri).toBe(`http://127.0.0.1/sts/approvals/${body.approval_id}`);
    expect(body.next).toContain(`argo-sts approve ${body.approval_id}`);

    const self = await cli(['approve', body.approval_id], aliceToken);
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('own request');

    const approved = await cli(['approve', body.approval_id], bobToken);
    expect(approved).toMatchObject({ code: 0, stdout: `${body.approval_id}: approved\n` });

    const issued = await ask({ approval_id: body.approval_id });
    expect(issued.isError).toBeFalsy();
    const credential = JSON.parse(issued.content[0]!.text);
    expect(decodeJwt(credential.access_token)).toMatchObject({ scope: 'argo:manage', namespace: 'dev' });
    expect(auditLines.find((l) => l.decision === 'issued' && l.approval_id === body.approval_id)).toMatchObject({ request_reason: 'terminate the runaway workflow wf-42' });

    const again = await ask({ approval_id: body.approval_id });
    expect(again.isError).toBe(true);
  });

  it('a denial is a tool error naming access_denied', async () => {
    const body = JSON.parse((await ask()).content[0]!.text);
    expect((await cli(['deny', body.approval_id], bobToken)).code).toBe(0);
    const refused = await ask({ approval_id: body.approval_id });
    expect(refused.isError).toBe(true);
    expect(refused.content[0]!.text).toMatch(/^refused: access_denied \(check: approval\)/);
  });

  it('the CLI refuses usage errors and unknown approvals', async () => {
    expect((await runCliCaptured(['approve'], { env: {} })).code).toBe(2);
    expect((await cli(['approve', crypto.randomUUID()], bobToken)).code).toBe(1);
  });
});
