/**
 * The story `npm run demo` tells, on loopback only: a Keycloak-shaped realm (oidc-provider), a
 * GitHub-Actions-shaped issuer and token endpoint, and the broker on Node with its SQLite audit
 * trail in a temporary directory. Then: a CI job exchanges its token; an agent acts for a person;
 * an escalation is refused; a token from a host whose clock is ahead is diagnosed; the audit
 * trail shows all of it. Everything it starts is stopped, and the directory removed, in `finally`
 * (or, on SIGINT/SIGTERM, the directory is removed and the process exits 130).
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type Credential, decodeJwtClaims, exchange, StsRequestError, TOKEN_TYPE_ACCESS_TOKEN } from '../../client/index.ts';
import { type NodeServer, startNodeServer } from '../../functions/node/start-server.ts';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../../test/support/loopback-idp.ts';
import type { CliIo } from '../command.ts';
import { runCli } from '../main.ts';
import { type ActionsTokenEndpoint, startActionsTokenEndpoint } from './github-actions-runner.ts';
import { type KeycloakRealm, startKeycloakRealm } from './keycloak-realm.ts';
import { playgroundFile } from './playground-file.ts';
import { publishPlayground, startTokenDesk, untilStopped } from './playground.ts';

const ALICE = { username: 'alice', sub: 'f2b6c1d4-3e5a-4b7c-9d8e-0a1b2c3d4e5f', email: 'alice@example.com', groups: ['platform-engineers'] };
const AGENT = 'release-agent';
/** How far ahead the clock of the host in scene 4 runs; the broker's leeway is 60 s. */
const CLOCK_AHEAD_SECONDS = 150;

function demoConfig(github: LoopbackIdp, realm: KeycloakRealm, auditDb: string): string {
  return `
issuer: https://sts.demo.example
signing: { alg: ES256, keys: generate }
defaults: { ttl: 10m, max_ttl: 1h, clock_skew: 60s }
idps:
  - { name: github, issuer: ${github.issuer}, audiences: [argo-sts], preset: github-actions }
  - { name: keycloak, issuer: ${realm.issuer}, audiences: [argo-sts], preset: keycloak }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes, argo_server: "https://argo.demo.example" }
policies:
  - id: ci-main
    idp: github
    target: argo-prod
    subject: repo:acme/app:ref:refs/heads/main
    claims: { repository_owner: acme }
    namespaces: [ci]
    scopes: [argo:submit, argo:read]
    max_ttl: 15m
  - id: platform-engineers
    idp: keycloak
    target: argo-prod
    claims: { groups: platform-engineers }
    namespaces: [dev]
    scopes: [argo:read, argo:submit, argo:manage]
    delegation:
      actors:
        # a client-credentials token's sub is the service-account user's UUID: match the client by azp
        - { idp: keycloak, claims: { azp: ${AGENT} }, scopes: [argo:read] }
audit: { sink: "sqlite:${auditDb}" }
`;
}

class Printer {
  readonly #out: (text: string) => void;
  #scene = 0;
  constructor(out: (text: string) => void) {
    this.#out = out;
  }
  line(text = ''): void {
    this.#out(`${text}\n`);
  }
  scene(title: string): void {
    this.#scene++;
    this.line();
    this.line(`== ${this.#scene}. ${title} ${'='.repeat(Math.max(3, 72 - title.length))}`);
  }
  fields(rows: Record<string, unknown>): void {
    const width = Math.max(...Object.keys(rows).map((k) => k.length));
    for (const [k, v] of Object.entries(rows)) if (v !== undefined) this.line(`   ${k.padEnd(width)}  ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
}

/** Who, what, for how long: a minted token's claims, read for people. */
function describeToken(p: Printer, token: string): void {
  const claims = decodeJwtClaims(token) ?? {};
  const iat = Number(claims.iat);
  const exp = Number(claims.exp);
  p.fields({
    'who (sub)': claims.sub,
    'as (username)': claims.preferred_username ?? claims.email,
    'acting (act)': claims.act ? (claims.act as { sub?: string }).sub : undefined,
    namespace: claims.namespace,
    scope: claims.scope,
    'groups (RBAC)': claims.groups,
    'for how long': `${exp - iat} s (until ${new Date(exp * 1000).toISOString()})`,
    'audience / issuer': `${String(claims.aud)} / ${String(claims.iss)}`,
  });
}

/** What `argo-sts ARGS` prints on stdout (stdin as given), for the demo to show verbatim. */
async function cliOutput(args: string[], stdin: string, home: string): Promise<string> {
  let out = '';
  await runCli(args, { stdout: (t) => (out += t), stderr: (t) => (out += t), stdin: async () => stdin, env: { HOME: home, PATH: process.env.PATH ?? '' } });
  return out.trimEnd();
}

function indent(text: string): string {
  return text.split('\n').map((line) => `   ${line}`).join('\n');
}

function elide(token: string): string {
  return `${token.slice(0, 16)}…(${token.length} chars)`;
}

function printRefusal(p: Printer, err: unknown): void {
  if (err instanceof StsRequestError) {
    p.fields({ refused: `${err.status} ${err.error}`, check: err.check, description: err.errorDescription, request_id: err.requestId });
    return;
  }
  throw err;
}

export interface DemoOptions {
  /** Leave the IdPs and a broker running afterwards: the playground (playground.ts). */
  readonly keep?: boolean;
  /** The playground broker's port (README's curl uses 8787). */
  readonly port?: number;
}

export async function runDemo(io: CliIo, options: DemoOptions = {}): Promise<number> {
  const p = new Printer(io.stdout);
  const dir = await mkdtemp(join(tmpdir(), 'argo-sts-demo-'));
  const auditDb = join(dir, 'audit.db');
  const auditLines: string[] = [];
  let github: LoopbackIdp | undefined;
  let actions: ActionsTokenEndpoint | undefined;
  let realm: KeycloakRealm | undefined;
  let broker: NodeServer | undefined;
  // Interrupted: the servers end with the process; the directory must not outlive it.
  const interrupted = () => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    github = await startLoopbackIdp();
    const gh = github;
    actions = await startActionsTokenEndpoint((audience) => gh.sign(fixtureClaims('github-actions', Math.floor(Date.now() / 1000), { iss: gh.issuer, aud: audience })));
    realm = await startKeycloakRealm({ realm: 'platform', users: [ALICE], agents: [AGENT] });
    broker = await startNodeServer({
      config: parseConfigText(demoConfig(github, realm, auditDb)),
      port: 0,
      env: {},
      writeLine: (line) => auditLines.push(line),
      warn: () => {}, // the only warning is "signing.keys is generate", which is the point of a demo
    });
    const client = { broker: broker.url, userAgent: 'argo-sts-demo' };

    p.line('argo-sts demo: everything below runs on 127.0.0.1 and is gone when the demo ends.');
    p.fields({
      'Keycloak realm': `${realm.issuer}  (oidc-provider; user alice, agent ${AGENT})`,
      'GitHub Actions': `${github.issuer}  (issuer) and a job's OIDC token endpoint`,
      broker: `${broker.url}  (argo-sts on Node; config: ci-main, platform-engineers)`,
      'audit trail': `${auditDb}  (SQLite) and one JSON line per decision on stdout`,
    });

    // 1. A CI job
    p.scene('A CI job exchanges its GitHub Actions token for a cluster credential');
    p.line('The job has "permissions: id-token: write"; argo-sts finds ACTIONS_ID_TOKEN_REQUEST_URL and asks GitHub');
    p.line('for a token with aud=argo-sts, then exchanges it:');
    p.line();
    p.line('   $ argo-sts exchange --audience argo-prod --scope argo:submit --format env');
    const job = { stdout: '', stderr: '' };
    const code = await runCli(['exchange', '--audience', 'argo-prod', '--scope', 'argo:submit', '--format', 'env'], {
      stdout: (t) => (job.stdout += t), stderr: (t) => (job.stderr += t), stdin: async () => '',
      env: { ...actions.env, ARGO_STS_URL: broker.url, HOME: dir },
    });
    if (code !== 0) throw new Error(`the CI exchange failed: ${job.stderr}`);
    for (const line of job.stdout.trimEnd().split('\n')) {
      p.line(`   ${line.replace(/^(ARGO_TOKEN="Bearer )([^"]+)"/, (_m, prefix: string, token: string) => `${prefix}${elide(token)}"`)}`);
    }
    const ciToken = /ARGO_TOKEN="Bearer ([^"]+)"/.exec(job.stdout)![1]!;
    p.line();
    p.line('What the cluster sees (the token decoded):');
    describeToken(p, ciToken);
    p.line('Next steps in the job: eval "$(argo-sts exchange ... --format env)" && argo submit -n ci workflow.yaml');

    // 2. An agent acting for a person
    p.scene('An AI agent acts for a person (RFC 8693 delegation)');
    const aliceToken = await realm.signIn('alice');
    const agentToken = await realm.serviceAccountToken(AGENT);
    p.line(`alice signs in to the realm (password grant); the agent "${AGENT}" authenticates with its own`);
    p.line('client credentials. The agent presents alice\'s token as subject and its own as actor, with a reason:');
    const delegated: Credential = await exchange(client, {
      subjectToken: aliceToken, subjectTokenType: TOKEN_TYPE_ACCESS_TOKEN, actorToken: agentToken,
      audience: 'argo-prod', namespace: 'dev', scope: 'argo:read', ttl: 600,
      reason: 'Summarize why the nightly-build workflow failed, for alice (ticket OPS-1432)',
    });
    p.line();
    describeToken(p, delegated.accessToken);
    p.line('The credential names both: alice is the subject, the agent is in "act", and the policy capped the');
    p.line(`agent at argo:read although alice herself may manage workflows in dev.`);

    // 3. A refused escalation
    p.scene('A refused escalation');
    p.line('The same agent asks, for alice, to manage (delete, retry, stop) workflows in dev:');
    try {
      await exchange(client, {
        subjectToken: aliceToken, subjectTokenType: TOKEN_TYPE_ACCESS_TOKEN, actorToken: agentToken,
        audience: 'argo-prod', namespace: 'dev', scope: 'argo:manage', reason: 'clean up old workflows',
      });
      throw new Error('the escalation was issued; the demo policy should refuse it');
    } catch (err) {
      printRefusal(p, err);
    }
    p.line('The answer names the failing check and never the policy; the request_id finds it in the audit trail.');

    // 4. A host whose clock is ahead
    p.scene(`A token from a host whose clock is ${CLOCK_AHEAD_SECONDS} s ahead`);
    const skewed = await github.sign(fixtureClaims('github-actions', Math.floor(Date.now() / 1000) + CLOCK_AHEAD_SECONDS, { iss: github.issuer }));
    p.line('A runner with a fast clock stamps iat in the future. /token refuses it:');
    try {
      await exchange(client, { subjectToken: skewed, audience: 'argo-prod', scope: 'argo:submit' });
      throw new Error('the skewed token was accepted; the leeway should refuse it');
    } catch (err) {
      printRefusal(p, err);
    }
    p.line();
    p.line(`   $ argo-sts diagnose --broker ${broker.url} --audience argo-prod --scope argo:submit - < token`);
    // What the CLI prints, run here as a person would run it.
    p.line(indent(await cliOutput(['diagnose', '--broker', broker.url, '--audience', 'argo-prod', '--scope', 'argo:submit', '-'], skewed, dir)));
    p.line('Every check ran: only issued_at fails, so the fix is the clock, not the policy.');

    // 5. The audit trail
    p.scene('The audit trail');
    await broker.close();
    broker = undefined;
    const db = new DatabaseSync(auditDb, { readOnly: true });
    try {
      const rows = db.prepare('SELECT time, endpoint, decision, idp, sub, actor, policy, namespace, scopes, ttl, check_id, request_reason FROM audit_events ORDER BY id').all() as Record<string, string | number | null>[];
      const stdoutEvents = auditLines.filter((line) => (JSON.parse(line) as { type?: string }).type === 'audit').length;
      p.line(`${rows.length} decisions in ${auditDb} (and as many JSON lines on stdout: ${stdoutEvents}):`);
      for (const row of rows) {
        const who = `${row.sub ? `${row.idp}:${row.sub}` : '(token not verified)'}${row.actor ? ` via ${row.actor}` : ''}`;
        const what = row.decision === 'issued' ? `${row.namespace} ${row.scopes} ${row.ttl}s` : `check ${row.check_id}`;
        p.line(`   ${String(row.time).slice(11, 19)}  ${String(row.endpoint).padEnd(8)} ${String(row.decision).padEnd(9)} ${who}`);
        p.line(`   ${''.padEnd(8)}  ${what}${row.policy ? `  policy ${row.policy}` : ''}${row.request_reason ? `  reason "${row.request_reason}"` : ''}`);
      }
    } finally {
      db.close();
    }
    p.line('No token is stored: each row has the SHA-256 of the subject token. The same trail through the CLI:');
    p.line();
    p.line(`   $ argo-sts audit --db ${auditDb} --decision denied`);
    p.line(indent(await cliOutput(['audit', '--db', auditDb, '--decision', 'denied'], '', dir)));
    p.line(`(${dir} and its database are deleted when the demo ends; a broker's own trail is its audit.sink.)`);
    p.line();
    p.line('Demo complete. Next: docs/clients.md (CI, kubectl, the client library), docs/agents.md (delegation, MCP).');
    if (options.keep) await keepPlayground(p, io, { github, realm, config: demoConfig(github, realm, auditDb), port: options.port ?? 8787 }, interrupted);
    return 0;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await broker?.close().catch(() => {});
    await realm?.close().catch(() => {});
    await actions?.close().catch(() => {});
    await github?.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

/** The playground: a broker on the port README's curl uses, the IdPs, and their token desk, until Ctrl-C. */
async function keepPlayground(
  p: Printer, io: CliIo, parts: { github: LoopbackIdp; realm: KeycloakRealm; config: string; port: number }, interrupted: () => void,
): Promise<void> {
  const playground = await startNodeServer({ config: parseConfigText(parts.config), port: parts.port, env: {}, warn: () => {} });
  const tokenDesk = await startTokenDesk(parts.github, parts.realm, [ALICE.username]);
  const unpublishFile = publishPlayground(io.env, { broker: playground.url, desk: tokenDesk.url });
  // From here Ctrl-C is the normal way out: stop cleanly, exit 0.
  process.off('SIGINT', interrupted);
  process.off('SIGTERM', interrupted);
  try {
    p.scene('The playground stays up (Ctrl-C stops it)');
    p.fields({
      broker: `${playground.url}  (config: ci-main for acme/app main, platform-engineers for alice)`,
      'GitHub Actions': `${parts.github.issuer}`,
      'Keycloak realm': `${parts.realm.issuer}  (user alice)`,
      'token desk': `${tokenDesk.url}  (argo-sts dev token reads its address from ${playgroundFile(io.env)})`,
    });
    p.line();
    p.line('Get a token and try README\'s exchange, a diagnosis and the page:');
    p.line('   export GITHUB_OIDC_TOKEN="$(npx argo-sts dev token --idp github)"');
    p.line(`   curl -s ${playground.url}/token \\`);
    p.line('     -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \\');
    p.line('     -d subject_token_type=urn:ietf:params:oauth:token-type:id_token \\');
    p.line('     -d subject_token="$GITHUB_OIDC_TOKEN" \\');
    p.line('     -d audience=argo-prod -d scope=argo:submit -d namespace=ci');
    p.line(`   printf %s "$GITHUB_OIDC_TOKEN" | npx argo-sts diagnose --broker ${playground.url} --audience argo-prod -`);
    p.line(`   open ${playground.url}/diagnose and paste the token; alice's: npx argo-sts dev token --idp keycloak`);
    p.line('(installed package: argo-sts instead of npx argo-sts)');
    p.line('playground ready');
    await untilStopped();
    p.line('stopping the playground');
  } finally {
    unpublishFile();
    await tokenDesk.close().catch(() => {});
    await playground.close().catch(() => {});
  }
}