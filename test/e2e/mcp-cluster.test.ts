/**
 * The MCP tool `diagnose_cluster_token` through the Model Context Protocol SDK's own Client over
 * stdio (`npx argo-sts mcp`), against an https loopback issuer: the same verdict, checks and user
 * as `argo-sts diagnose --cluster`, for an AuthenticationConfiguration the agent passes as text;
 * and, for every row of issue #18's table (test/support/cluster-table.ts; the stack suite proves
 * the rows against the real kube-apiserver) on v1 and v1beta1, the same as the CLI and as the
 * diagnose page's POST /diagnose/cluster.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectArgoStsMcp } from '../support/mcp-client.ts';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeServer } from '../../functions/node/start-server.ts';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { authenticationConfiguration } from '../../shared/cluster/render-cluster.ts';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { expectRow, type RowDiagnosis, startTableIssuers, TABLE_ROWS, tableConfig, type TableIssuers } from '../support/cluster-table.ts';
import { signingKeysEnv } from '../support/configs.ts';
import { githubViewConfig, startInProcessBroker } from '../support/in-process-broker.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { type HttpsIssuer, oneIssuerConfig, pageBrokerConfig, startHttpsIssuer } from '../support/https-issuer.ts';
import { runCliCaptured } from '../support/run-cli.ts';

let idp: HttpsIssuer;
let github: LoopbackIdp;
let broker: NodeServer;
let dir: string;
let client: Client;
let token: string;
const auditLines: Record<string, any>[] = [];

type ToolResult = { isError?: boolean; content: { type: string; text: string }[] };

function config(audience: string): string {
  return oneIssuerConfig(idp, { version: 'v1beta1', audiences: [audience], username: 'claim: email, prefix: ""' });
}

/** `npx argo-sts mcp` against the broker with this subject token file, through the SDK's stdio client. */
function connectMcp(tokenFile: string): Promise<Client> {
  return connectArgoStsMcp('mcp-cluster-e2e', ['--broker', broker.url, '--token-file', tokenFile], dir);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argo-sts-mcp-cluster-'));
  idp = await startHttpsIssuer({ path: '/realms/platform' });
  github = await startLoopbackIdp();
  broker = await startInProcessBroker(githubViewConfig(github.issuer), auditLines);
  await writeFile(join(dir, 'ci.jwt'), await github.sign(fixtureClaims('github-actions', Math.floor(Date.now() / 1000), { iss: github.issuer })));
  token = await idp.sign(fixtureClaims('keycloak-access-token', Math.floor(Date.now() / 1000), { iss: idp.issuer, aud: ['kubernetes', 'account'] }));
  await writeFile(join(dir, 'person.jwt'), token);
  // The broker is not asked for the subject token's cluster diagnosis, only for "credential".
  client = await connectMcp(join(dir, 'person.jwt'));
});

afterAll(async () => {
  await client?.close();
  await broker?.close();
  await github?.close();
  await idp?.close();
  await rm(dir, { recursive: true, force: true });
});

async function callTool(args: Record<string, unknown>): Promise<ToolResult> {
  return (await client.callTool({ name: 'diagnose_cluster_token', arguments: args })) as ToolResult;
}

describe('diagnose_cluster_token through the SDK client', () => {
  it('is listed, read-only, with the configuration as its one required input', async () => {
    const { tools } = await client.listTools();
    const tool = tools.find((t) => t.name === 'diagnose_cluster_token');
    expect(tool?.inputSchema.required).toEqual(['authentication_config']);
    expect(tool?.annotations?.readOnlyHint).toBe(true);
  });

  it('gives the same verdict, checks and user as argo-sts diagnose --cluster, authenticated and refused', async () => {
    for (const audience of ['kubernetes', 'argo-sts']) {
      const result = await callTool({ authentication_config: config(audience) });
      expect(result.isError).toBeFalsy();
      const fromTool = JSON.parse(result.content[1]!.text);
      const file = join(dir, `config-${audience}.yaml`);
      await writeFile(file, config(audience));
      const cli = await runCliCaptured(['diagnose', '--cluster', file, '-', '--json'], { stdin: token });
      const fromCli = JSON.parse(cli.stdout);
      expect(fromTool.verdict).toBe(audience === 'kubernetes' ? 'authenticated' : 'refused');
      expect(cli.code).toBe(audience === 'kubernetes' ? 0 : 1);
      expect(fromTool.verdict).toBe(fromCli.verdict);
      expect(fromTool.user).toEqual(fromCli.user);
      expect(fromTool.checks.map((c: { check: string; status: string }) => [c.check, c.status])).toEqual(fromCli.checks.map((c: { check: string; status: string }) => [c.check, c.status]));
      expect(result.content[0]!.text).toMatch(audience === 'kubernetes' ? /^verdict: authenticated/ : /^verdict: refused[\s\S]*fail audience:/);
      expect(result.content.map((c) => c.text).join('')).not.toContain(token);
    }
    const ok = JSON.parse((await callTool({ authentication_config: config('kubernetes') })).content[1]!.text);
    expect(ok.user).toEqual({ username: 'alice@example.com', groups: ['oidc:platform-engineers', 'oidc:argo-users', 'system:authenticated'], uid: '', extra: {} });
  });

  it('answers an error for text that is no AuthenticationConfiguration, and asks for a reason before minting', async () => {
    const bad = await callTool({ authentication_config: 'kind: Pod\napiVersion: v1\n' });
    expect(bad.isError).toBe(true);
    expect(bad.content[0]!.text).toMatch(/^authentication_config: not an AuthenticationConfiguration/);
    const noReason = await callTool({ authentication_config: config('kubernetes'), token: 'credential', audience: 'argo-dev' });
    expect(noReason.isError).toBe(true);
    expect(noReason.content[0]!.text).toMatch(/give a reason/);
  });
});

describe('diagnose_cluster_token with token "credential"', () => {
  it('mints the credential (audited, with the reason) and diagnoses it against the config argo-sts renders', async () => {
    const ci = await connectMcp(join(dir, 'ci.jwt'));
    try {
      const rendered = stringify(authenticationConfiguration(parseConfigText(githubViewConfig(github.issuer)), 'kubernetes', 'v1'));
      const reason = 'check that the cluster accepts the view credential for ci';
      const result = (await ci.callTool({ name: 'diagnose_cluster_token', arguments: { authentication_config: rendered, token: 'credential', audience: 'argo-prod', namespace: 'ci', scopes: ['k8s:view'], reason } })) as ToolResult;
      expect(result.isError).toBeFalsy();
      const diagnosis = JSON.parse(result.content[1]!.text);
      // The broker's issuer here is http on loopback: the apiserver would refuse the config itself.
      expect(diagnosis).toMatchObject({ verdict: 'refused', authenticator: 'http://127.0.0.1/sts', config: { problems: [{ path: 'jwt[0].issuer.url', message: 'URL scheme must be https' }] } });
      expect(diagnosis.mapped_user).toMatchObject({ username: 'argo-sts:github:repo:acme/app:ref:refs/heads/main', groups: ['argo-sts:ci:k8s:view'] });
      expect(auditLines.find((l) => l.request_reason === reason)).toMatchObject({ decision: 'issued' });
      expect(result.content.map((c) => c.text).join('')).not.toMatch(/eyJ[\w-]+\.eyJ/);
    } finally {
      await ci.close();
    }
  });
});


describe('the table of issue #18 through the MCP tool, the diagnose page and the CLI', () => {
  const now = Math.floor(Date.now() / 1000);
  let issuers: TableIssuers;
  let page: Harness;

  beforeAll(async () => {
    issuers = await startTableIssuers();
    page = await buildHarness(pageBrokerConfig('http://127.0.0.1/sts'), { now, env: await signingKeysEnv() });
  });

  afterAll(() => issuers?.close());

  /** What must be equal across the surfaces (messages carry seconds, which differ by a clock tick). */
  const verdictOf = (d: RowDiagnosis & Record<string, unknown>) => ({
    verdict: d.verdict, authenticator: d.authenticator, user: d.user, mapped_user: d.mapped_user, config: d.config,
    checks: d.checks.map((c) => [c.check, c.status, c.cause]),
  });

  for (const version of ['v1', 'v1beta1'] as const) {
    for (const r of TABLE_ROWS) {
      it(`${version}: ${r.row} is ${r.verdict} on every surface`, async () => {
        const config = tableConfig(version, issuers);
        const token = await r.token(issuers, now);
        const file = join(dir, `table-${version}.yaml`);
        await writeFile(file, config);
        await writeFile(join(dir, 'person.jwt'), token);
        const fromCli = JSON.parse((await runCliCaptured(['diagnose', '--cluster', file, '-', '--json'], { stdin: token })).stdout);
        const fromTool = JSON.parse((await callTool({ authentication_config: config })).content[1]!.text);
        const fromPage = await (await page.app.request('/diagnose/cluster', {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ subject_token: token, authentication_config: config }),
        })).json() as RowDiagnosis & Record<string, unknown>;
        expectRow(r, fromCli, issuers);
        expect(fromCli.config.source).toBe(version);
        expect(verdictOf(fromTool)).toEqual(verdictOf(fromCli));
        expect(verdictOf(fromPage)).toEqual(verdictOf(fromCli));
      });
    }
  }
});
