/**
 * `argo-sts mcp` driven by the Model Context Protocol SDK's own Client over stdio, against a real
 * broker on loopback. The person's token (Keycloak-shaped) is the subject; the agent's token is a
 * real client-credentials access token from oidc-provider (a Keycloak-shaped realm) and is the
 * actor. The credential carries both identities and the audit event carries the agent's reason.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectArgoStsMcp } from '../support/mcp-client.ts';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeServer } from '../../functions/node/start-server.ts';
import { startInProcessBroker } from '../support/in-process-broker.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { type OidcProviderIdp, startOidcProviderIdp } from '../support/oidc-provider-idp.ts';

let people: LoopbackIdp;
let agents: OidcProviderIdp;
let broker: NodeServer;
let dir: string;
let client: Client;
const auditLines: Record<string, any>[] = [];

type ToolResult = { isError?: boolean; content: { type: string; text: string }[] };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argo-sts-mcp-'));
  people = await startLoopbackIdp({ path: '/realms/platform' });
  agents = await startOidcProviderIdp({ realm: 'agents', clientId: 'release-agent' });
  broker = await startInProcessBroker(`
issuer: http://127.0.0.1/sts
signing: { alg: ES256, keys: generate }
idps:
  - { name: keycloak, issuer: ${people.issuer}, audiences: [argo-sts], preset: keycloak }
  - { name: agents, issuer: ${agents.issuer}, audiences: [argo-sts], preset: keycloak }
targets:
  - { name: argo-dev, kind: kubernetes-oidc, audience: kubernetes, argo_server: "https://argo.dev.example.com:2746" }
policies:
  - id: people-dev
    idp: keycloak
    target: argo-dev
    claims: { groups: platform-engineers }
    namespaces: [dev]
    scopes: [argo:read, argo:submit]
    delegation:
      actors:
        - { idp: agents, subject: release-agent, scopes: [argo:read] }
`, auditLines);
  const now = Math.floor(Date.now() / 1000);
  await writeFile(join(dir, 'person.jwt'), await people.sign(fixtureClaims('keycloak-access-token', now, { iss: people.issuer })));
  await writeFile(join(dir, 'agent.jwt'), await agents.accessToken());

  client = await connectArgoStsMcp('mcp-e2e', ['--broker', broker.url, '--token-file', join(dir, 'person.jwt'), '--token-type', 'access_token', '--actor-token-file', join(dir, 'agent.jwt')], dir);
});

afterAll(async () => {
  await client?.close();
  await broker?.close();
  await agents?.close();
  await people?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('argo-sts mcp through the SDK client', () => {
  it('lists request_argo_credentials (reason required), diagnose_token and diagnose_cluster_token', async () => {
    const { tools } = await client.listTools();
    const request = tools.find((t) => t.name === 'request_argo_credentials');
    expect(tools.map((t) => t.name).sort()).toEqual(['diagnose_cluster_token', 'diagnose_token', 'request_argo_credentials']);
    expect(request?.inputSchema.required).toEqual(['scopes', 'reason']);
    expect(Object.keys(request?.inputSchema.properties ?? {}).sort()).toEqual(['approval_id', 'audience', 'namespace', 'reason', 'scopes', 'ttl']);
  });

  it('issues a credential for the person with the agent in act, and the reason lands in the audit event', async () => {
    const reason = 'Read the logs of the failed nightly-build workflow for alice (ticket OPS-1432)';
    const result = (await client.callTool({
      name: 'request_argo_credentials',
      arguments: { audience: 'argo-dev', namespace: 'dev', scopes: ['argo:read'], ttl: 300, reason },
    })) as ToolResult;
    expect(result.isError).toBeFalsy();
    const body = JSON.parse(result.content[0]!.text);
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: 'argo:read', namespace: 'dev', argo_server: 'https://argo.dev.example.com:2746' });
    expect(body.env).toEqual({ ARGO_TOKEN: `Bearer ${body.access_token}`, ARGO_SERVER: 'argo.dev.example.com:2746', ARGO_SECURE: 'true', ARGO_HTTP1: 'true', ARGO_NAMESPACE: 'dev' });

    const { payload } = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(`${broker.url}/.well-known/jwks.json`)), { audience: 'kubernetes' });
    expect(payload).toMatchObject({ sub: 'keycloak:f2b6c1d4-3e5a-4b7c-9d8e-0a1b2c3d4e5f', act: { sub: 'agents:release-agent' }, preferred_username: 'alice' });
    const audit = auditLines.find((l) => l.jti === payload.jti);
    expect(audit).toMatchObject({ decision: 'issued', actor: 'agents:release-agent', request_reason: reason, user_agent: 'argo-sts-mcp/0.1.0' });
  });

  it('refuses an escalation beyond what the agent may do for the person, with the check and request_id', async () => {
    const result = (await client.callTool({
      name: 'request_argo_credentials',
      arguments: { audience: 'argo-dev', namespace: 'dev', scopes: ['argo:submit'], reason: 'resubmit the nightly build' },
    })) as ToolResult;
    expect(result.isError).toBe(true);
    const text = result.content[0]!.text;
    expect(text).toMatch(/^refused: invalid_(scope|request) \(check: (scope|policy)\)/);
    const requestId = /request_id: ([0-9a-f-]{36})/.exec(text)?.[1];
    expect(auditLines.find((l) => l.request_id === requestId)).toMatchObject({ decision: 'denied', request_reason: 'resubmit the nightly build' });
  });

  it('requires scopes, so an agent never asks for every scope the policy allows by leaving them out', async () => {
    const before = auditLines.length;
    for (const args of [{}, { scopes: [] }]) {
      const result = (await client.callTool({ name: 'request_argo_credentials', arguments: { audience: 'argo-dev', namespace: 'dev', reason: 'read the logs of the nightly build', ...args } })) as ToolResult;
      expect(result.isError).toBe(true);
      expect(result.content[0]!.text).toContain('scopes');
    }
    expect(auditLines.length).toBe(before);
  });

  it('rejects a call without a reason before anything reaches the broker', async () => {
    const before = auditLines.length;
    const result = (await client.callTool({ name: 'request_argo_credentials', arguments: { audience: 'argo-dev', scopes: ['argo:read'] } })) as ToolResult;
    expect(result.isError).toBe(true);
    expect(result.content[0]!.text).toContain('reason');
    expect(auditLines.length).toBe(before);
  });

  it('diagnose_token answers with the broker\'s verdict and checks for a namespace the policy does not allow', async () => {
    const result = (await client.callTool({ name: 'diagnose_token', arguments: { audience: 'argo-dev', namespace: 'prod' } })) as ToolResult;
    expect(result.isError).toBeFalsy();
    expect(result.content[0]!.text).toMatch(/^verdict: deny \(request_id [0-9a-f-]{36}\)/);
    const diagnosis = JSON.parse(result.content[1]!.text);
    expect(diagnosis.checks.find((c: { check: string }) => c.check === 'namespace')).toMatchObject({ status: 'fail' });
    expect(diagnosis.checks.find((c: { check: string }) => c.check === 'signature')).toMatchObject({ status: 'pass' });
  });
});
