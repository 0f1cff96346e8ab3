/**
 * An agent whose own token argo-sts fetches with the client-credentials grant, from a real
 * OpenID Provider shaped like a Keycloak realm (cli/demo/keycloak-realm.ts): the person signs in
 * to the same realm, the agent's client secret stays in a variable, and the minted credential
 * carries the agent in `act` — through `argo-sts exchange` and through `argo-sts mcp`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectArgoStsMcp } from '../support/mcp-client.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwtClaims } from '../../client/index.ts';
import { type KeycloakRealm, startKeycloakRealm } from '../../cli/demo/keycloak-realm.ts';
import type { NodeServer } from '../../functions/node/start-server.ts';
import { startInProcessBroker } from '../support/in-process-broker.ts';
import { runCliCaptured } from '../support/run-cli.ts';

const ALICE = { username: 'alice', sub: '5a0c7f0e-1111-4e2a-9c3b-2d4e6f8a0b1c', email: 'alice@example.com', groups: ['platform-engineers'] };
let realm: KeycloakRealm;
let broker: NodeServer;
let dir: string;
let personFile: string;
const auditLines: Record<string, any>[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argo-sts-cc-'));
  realm = await startKeycloakRealm({ realm: 'platform', users: [ALICE], agents: ['triage-agent'] });
  broker = await startInProcessBroker(`
issuer: http://127.0.0.1/sts
signing: { alg: ES256, keys: generate }
idps:
  - { name: keycloak, issuer: ${realm.issuer}, audiences: [argo-sts], preset: keycloak }
targets:
  - { name: argo-dev, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - id: people
    idp: keycloak
    target: argo-dev
    claims: { groups: platform-engineers }
    namespaces: [dev]
    scopes: [argo:read, argo:submit]
    delegation:
      actors:
        # Keycloak's client-credentials token: sub is the service-account user's UUID, the client id is azp
        - { idp: keycloak, claims: { azp: triage-agent }, scopes: [argo:read] }
`, auditLines);
  personFile = join(dir, 'alice.jwt');
  await writeFile(personFile, await realm.signIn('alice'));
});

afterAll(async () => {
  await broker?.close();
  await realm?.close();
  await rm(dir, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string>) {
  return runCliCaptured(args, { env: { HOME: dir, ...env } });
}

const agentFlags = () => ['--actor-token-endpoint', realm.tokenEndpoint, '--actor-client-id', 'triage-agent', '--actor-client-secret-env', 'AGENT_SECRET'];

describe('argo-sts exchange with the agent\'s client credentials', () => {
  it('fetches the agent\'s token from the realm and mints a credential for alice with the agent in act', async () => {
    const { code, stdout, stderr } = await cli([
      'exchange', '--broker', broker.url, '--audience', 'argo-dev', '--namespace', 'dev', '--scope', 'argo:read',
      '--token-file', personFile, '--token-type', 'access_token', ...agentFlags(), '--reason', 'triage failed runs for alice',
    ], { AGENT_SECRET: realm.clientSecret('triage-agent') });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(decodeJwtClaims(stdout.trim())).toMatchObject({ sub: `keycloak:${ALICE.sub}`, act: { sub: `keycloak:${realm.serviceAccountSub('triage-agent')}` }, scope: 'argo:read' });
    expect(auditLines.at(-1)).toMatchObject({ decision: 'issued', actor: `keycloak:${realm.serviceAccountSub('triage-agent')}`, request_reason: 'triage failed runs for alice' });
  });

  it('says the realm refused the client credentials, without echoing the secret, and exits 1', async () => {
    const before = auditLines.length;
    const { code, stderr } = await cli([
      'exchange', '--broker', broker.url, '--token-file', personFile, '--token-type', 'access_token', ...agentFlags(),
    ], { AGENT_SECRET: 'wrong-secret-value' });
    expect(code).toBe(1);
    expect(stderr).toContain('refused the client credentials of "triage-agent": HTTP 401: invalid_client');
    expect(stderr).not.toContain('wrong-secret-value');
    expect(auditLines.length).toBe(before);
  });

  it('refuses a client secret given any way but a variable, and a plain-http endpoint off loopback', async () => {
    expect((await cli(['exchange', '--broker', broker.url, '--token-file', personFile, '--actor-token-endpoint', realm.tokenEndpoint, '--actor-client-id', 'triage-agent'], {})).code).toBe(2);
    const insecure = await cli(['exchange', '--broker', broker.url, '--token-file', personFile, '--actor-token-endpoint', 'http://keycloak.example.com/token', '--actor-client-id', 'a', '--actor-client-secret-env', 'S'], { S: 'x' });
    expect(insecure.code).toBe(2);
    expect(insecure.stderr).toContain('must be https');
  });
});

describe('argo-sts mcp with the agent\'s client credentials', () => {
  it('answers request_argo_credentials with a delegated credential', async () => {
    const client = await connectArgoStsMcp('cc-e2e', ['--broker', broker.url, '--token-file', personFile, '--token-type', 'access_token', ...agentFlags()], dir, {
      AGENT_SECRET: realm.clientSecret('triage-agent'),
    });
    try {
      for (const reason of ['first look at the failed runs', 'second look after the fix']) {
        const result = (await client.callTool({ name: 'request_argo_credentials', arguments: { audience: 'argo-dev', namespace: 'dev', scopes: ['argo:read'], reason } })) as { isError?: boolean; content: { text: string }[] };
        expect(result.isError).toBeFalsy();
        expect(decodeJwtClaims(JSON.parse(result.content[0]!.text).access_token)).toMatchObject({ act: { sub: `keycloak:${realm.serviceAccountSub('triage-agent')}` } });
        expect(auditLines.at(-1)).toMatchObject({ decision: 'issued', request_reason: reason });
      }
    } finally {
      await client.close();
    }
  });
});
