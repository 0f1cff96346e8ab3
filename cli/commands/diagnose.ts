/**
 * `argo-sts diagnose [TOKEN|-]`: why a token is (or would be) refused.
 *
 * Remote (`--broker URL` or ARGO_STS_URL): asks the broker's POST /diagnose, which knows its
 * config. With `--config FILE`: runs the same diagnosis locally against that config (the
 * operator's view: everything disclosed). Otherwise offline: decodes the token, checks its times
 * against this machine's clock and, when the issuer is reachable, verifies the signature with its
 * JWKS. The token itself is never printed.
 */
import { diagnose as diagnoseRemote, StsRequestError, StsTransportError, TOKEN_TYPE_ACCESS_TOKEN } from '../../client/index.ts';
import { checkTitle } from '../../shared/diagnose/catalogue.ts';
import { diagnose } from '../../shared/diagnose/diagnose.ts';
import { type Diagnosis, type DiagnosisCheck } from '../../shared/diagnose/diagnosis.ts';
import { diagnoseOffline, type OfflineDiagnosis } from '../../shared/diagnose/offline.ts';
import { parseDuration } from '../../shared/config/duration.ts';
import { webCryptoPort } from '../../shared/keys/crypto-port.ts';
import { IssuerKeys } from '../../shared/verify/issuer-keys.ts';
import type { RawParameters } from '../../shared/exchange/token-request.ts';
import { loadNodeConfig } from '../../functions/node/config-source.ts';
import { type CliIo, type Command, EXIT, UsageError } from '../command.ts';
import { readNamedToken } from '../exchange/token-source.ts';
import { parseFlags } from '../flags.ts';
import { tokenTypeFlag, USER_AGENT } from './exchange.ts';
import { CLUSTER_HELP, CLUSTER_TRANSCRIPT, runClusterDiagnosis } from './diagnose-cluster.ts';

const FLAGS = {
  broker: 'string', config: 'string', audience: 'string', scope: 'strings', namespace: 'string', ttl: 'string',
  'token-env': 'string', leeway: 'string', json: 'boolean',
  'actor-token-env': 'string', 'actor-token-file': 'string', 'actor-token-type': 'string',
  cluster: 'string', kubeconfig: 'string', context: 'string', verb: 'string', resource: 'string',
} as const;

export const diagnoseCommand: Command = {
  name: 'diagnose',
  summary: 'say exactly why a token is refused: every check, its numbers and a hint',
  help: `Usage: argo-sts diagnose [TOKEN | -] [--broker URL | --config FILE] [--audience TARGET] [--scope S]...
                         [--namespace NS] [--ttl N] [--token-env NAME] [--leeway 60s] [--json]
                         [--actor-token-env NAME | --actor-token-file PATH] [--actor-token-type T]
       argo-sts diagnose --cluster AUTHN_CONFIG [TOKEN | -] [--kubeconfig FILE] [--json]

Runs every check /token runs — format, issuer, signature, audience, expiry, not_before, issued_at,
policy, target, namespace, scope — and prints each with its status, the numbers (clock skew, leeway,
how long ago a token expired) and a hint. Never issues a credential; never prints the token.

Where the token comes from: the TOKEN argument, "-" for stdin, --token-env NAME, else
$ARGO_STS_SUBJECT_TOKEN. Prefer stdin or a variable: arguments end up in shell history.

Modes:
  --broker URL     ask that broker's POST /diagnose (default: $ARGO_STS_URL). What it discloses
                   follows its diagnose.reveal setting.
  --config FILE    diagnose locally against a broker config, everything disclosed (the operator's view);
                   fetches the configured issuers' keys
  (neither)        offline: decode the token, check exp/nbf/iat against this machine's clock with
                   --leeway (default 60s) and, if the issuer serves OIDC discovery over https (or
                   loopback http), verify the signature with its JWKS. Policies are not checked.

Request (as for argo-sts exchange): --audience TARGET, --scope S (repeat or space-separate),
--namespace NS, --ttl N (seconds or 90s, 10m, 1h). Delegation: the agent's token with
--actor-token-env NAME or --actor-token-file PATH (type --actor-token-type, default access_token),
checked against the policy's delegation rule (with --broker or --config; offline ignores it).

Output: a report for people, or --json (the broker's /diagnose body; offline, mode "offline" with
verdict "deny" or "unknown").
Exit status: 0 the broker would issue (offline: no check failed); 1 it would refuse, or the broker
could not be asked; 2 usage error.

Examples:
  argo-sts exchange ... || argo-sts diagnose --broker https://sts.example.com --audience argo-prod - <<<"$TOKEN"
  printf %s "$ID_TOKEN" | argo-sts diagnose -          # offline: times and signature
  argo-sts diagnose --config /etc/argo-sts/config.yaml --token-env ID_TOKEN --audience argo-prod --json

${CLUSTER_HELP}

${CLUSTER_TRANSCRIPT}`,
  async run(args, io) {
    const flags = parseFlags(args, FLAGS, { positionals: 1 });
    const token = await readToken(flags._[0], flags['token-env'], io);
    if (flags.cluster !== undefined) {
      const other = (['broker', 'config', 'audience', 'scope', 'ttl', 'leeway', 'actor-token-env', 'actor-token-file'] as const).find((f) => flags[f] !== undefined);
      if (other) throw new UsageError(`--cluster diagnoses against a cluster's configuration; --${other} belongs to the broker modes`);
      return runClusterDiagnosis({ ...flags, cluster: flags.cluster }, token, io);
    }
    if (flags.kubeconfig !== undefined || flags.verb !== undefined || flags.resource !== undefined || flags.context !== undefined) {
      throw new UsageError('--kubeconfig, --context, --verb and --resource need --cluster');
    }
    if (flags._[0] === '-' && flags['actor-token-file'] === '-') throw new UsageError('only one token can come from stdin');
    const actor = await readNamedToken('actor', flags['actor-token-env'], flags['actor-token-file'], io);
    const actorTokenType = tokenTypeFlag('--actor-token-type', flags['actor-token-type'], TOKEN_TYPE_ACCESS_TOKEN);
    const actorFields = actor ? { actorToken: actor.token, actorTokenType } : {};
    const broker = flags.broker ?? (flags.config ? undefined : io.env.ARGO_STS_URL);
    if (flags.broker && flags.config) throw new UsageError('--broker and --config are two modes; give one');
    const scope = flags.scope?.join(' ').trim() || undefined;
    let ttl: number | undefined;
    if (flags.ttl !== undefined) {
      ttl = parseDuration(/^\d+$/.test(flags.ttl) ? Number(flags.ttl) : flags.ttl);
      if (ttl === undefined || ttl < 1) throw new UsageError('--ttl must be seconds or a duration such as 90s, 10m, 1h');
    }

    let result: Diagnosis | OfflineDiagnosis;
    if (broker) {
      try {
        // The broker's body is shared/diagnose/diagnose.ts's Diagnosis; the client types only what every broker sends.
        result = (await diagnoseRemote(
          { broker, userAgent: USER_AGENT },
          { subjectToken: token, audience: flags.audience, scope, namespace: flags.namespace, ttl, ...actorFields },
        )) as unknown as Diagnosis;
      } catch (err) {
        if (err instanceof StsRequestError || err instanceof StsTransportError) {
          io.stderr(`argo-sts diagnose: ${err.message}\n`);
          return EXIT.failed;
        }
        throw err;
      }
    } else if (flags.config) {
      const env: NodeJS.ProcessEnv = { ...io.env, ARGO_STS_CONFIG_FILE: flags.config };
      delete env.ARGO_STS_CONFIG;
      const loaded = loadNodeConfig(env);
      const config = { ...loaded, diagnose: { ...loaded.diagnose, reveal: 'full' as const } };
      const params: RawParameters = {
        subject_token: token, audience: flags.audience, scope, namespace: flags.namespace, requested_ttl: ttl?.toString(),
        actor_token: actor?.token, actor_token_type: actor ? actorTokenType : undefined,
      };
      for (const key of Object.keys(params) as (keyof RawParameters)[]) if (params[key] === undefined) delete params[key];
      const issuerKeys = new IssuerKeys({ fetch: (input, init) => fetch(input, init), clock: Date.now, shareInFlight: true });
      result = (await diagnose({ config, issuerKeys, crypto: webCryptoPort, clock: Date.now }, params, crypto.randomUUID())).diagnosis;
    } else {
      const leeway = flags.leeway === undefined ? 60 : parseDuration(/^\d+$/.test(flags.leeway) ? Number(flags.leeway) : flags.leeway);
      if (leeway === undefined) throw new UsageError('--leeway must be seconds or a duration such as 30s, 2m');
      result = await diagnoseOffline(token, { fetch: (input, init) => fetch(input, init), clock: Date.now, leeway });
    }

    io.stdout(flags.json ? `${JSON.stringify(result, null, 2)}\n` : renderReport(result, broker));
    return result.verdict === 'deny' ? EXIT.failed : EXIT.ok;
  },
};

async function readToken(arg: string | undefined, tokenEnv: string | undefined, io: CliIo): Promise<string> {
  let raw: string | undefined;
  let from: string;
  if (arg === '-') {
    raw = await io.stdin();
    from = 'stdin';
  } else if (arg !== undefined) {
    raw = arg;
    from = 'the TOKEN argument';
  } else if (tokenEnv !== undefined) {
    raw = io.env[tokenEnv];
    from = `$${tokenEnv}`;
  } else {
    raw = io.env.ARGO_STS_SUBJECT_TOKEN;
    from = '$ARGO_STS_SUBJECT_TOKEN';
    if (raw === undefined) throw new UsageError('no token: give TOKEN, "-" for stdin, --token-env NAME, or set ARGO_STS_SUBJECT_TOKEN');
  }
  const token = raw?.trim() ?? '';
  if (token === '') throw new UsageError(`${from} is empty`);
  return token;
}

const MARKS: Record<DiagnosisCheck['status'], string> = { pass: '✓', fail: '✗', warn: '!', skip: '-' };

/** The report for people: verdict, then one block per check with its numbers and hint. */
export function renderReport(result: Diagnosis | OfflineDiagnosis, broker: string | undefined): string {
  const lines: string[] = [];
  const offline = 'mode' in result;
  if (offline) {
    lines.push(result.verdict === 'deny' ? 'DENY (offline): the token fails a check any broker makes' : 'NO FAILURE FOUND OFFLINE: policies, audiences and targets are checked only by a broker (--broker URL)');
  } else {
    lines.push(result.verdict === 'issue' ? `ISSUE: ${broker ?? 'the broker'} would issue a credential for this request` : `DENY: ${broker ?? 'the broker'} would refuse this request`);
  }
  const meta = [`server time ${result.server_time}`];
  if (!offline) meta.push(`request_id ${result.request_id}`, `disclosure ${result.disclosure}${result.reveal ? ` (diagnose.reveal: ${result.reveal})` : ''}`);
  lines.push(`  ${meta.join(' · ')}`, '');
  if (!offline) for (const p of result.request_problems ?? []) lines.push(`  ✗ request: ${p.parameter}: ${p.message}`);
  const width = Math.max(...result.checks.map((c) => c.check.length));
  for (const c of result.checks) {
    lines.push(`  ${MARKS[c.status]} ${c.check.padEnd(width)}  ${c.message}`);
    const indent = ' '.repeat(width + 6);
    const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
    if (c.status === 'skip') continue;
    if (c.status !== 'pass' || c.expected !== undefined) {
      if (c.actual !== undefined && c.status !== 'pass') lines.push(`${indent}presented: ${show(c.actual)}`);
      if (c.expected !== undefined && c.status !== 'pass') lines.push(`${indent}expected:  ${show(c.expected)}`);
    }
    if (c.status !== 'pass' && c.seconds !== undefined) lines.push(`${indent}${checkTitle(c.check).replace(/`/g, '')}: ${c.seconds} s, leeway ${c.leeway_seconds ?? 0} s`);
    if (c.status !== 'pass' && c.policy !== undefined) lines.push(`${indent}nearest policy: ${c.policy}`);
    for (const m of c.status === 'pass' ? [] : (c.mismatches ?? [])) lines.push(`${indent}  ${m.field}: expected ${show(m.expected)}, presented ${show(m.actual)}`);
    if (c.hint && c.status !== 'pass') lines.push(`${indent}hint: ${c.hint.replace(/`/g, '')}`);
  }
  return `${lines.join('\n')}\n`;
}
