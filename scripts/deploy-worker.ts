/**
 * `npm run deploy [-- WRANGLER_DEPLOY_ARGS]`: checks the environment's config, then runs
 * `wrangler deploy` with the same arguments. A Worker cannot refuse to start, so an invalid
 * config is refused here, before anything is uploaded.
 *
 * The config is the ARGO_STS_CONFIG var of the wrangler config (`-c/--config`) for the
 * environment (`-e/--env`), loaded as the Worker loads it (functions/worker/worker-config.ts: the
 * same checks as `argo-sts config check`, plus the Workers rules) and with the bindings that
 * environment declares: `audit.sink: d1:BINDING` must name one of its D1 databases, and an
 * `env:NAME` reference that is not one of its vars is a warning (it must be a secret). When
 * ARGO_STS_CONFIG is a secret (`wrangler secret put`), it is not in the wrangler config and
 * cannot be read here: that is said, and the deploy goes ahead (check the document with
 * `argo-sts config check FILE` before putting the secret).
 *
 * Exit codes: 2 when the config is refused (one line per issue on stderr, wrangler not run),
 * otherwise wrangler's.
 */
import { spawnSync } from 'node:child_process';
import { ConfigError } from '../shared/config/parse-config.ts';
import { auditD1Binding, loadWorkerConfig } from '../functions/worker/worker-config.ts';
import { COORDINATOR_BINDING } from '../functions/worker/durable-coordinator.ts';
import { unsetEnvSecrets } from '../cli/commands/config-check.ts';

/** The parts of wrangler's resolved config this check reads. */
export interface WranglerEnvironment {
  readonly vars?: Readonly<Record<string, unknown>>;
  readonly d1_databases?: readonly { readonly binding: string }[];
  readonly durable_objects?: { readonly bindings?: readonly { readonly name: string }[] };
}

export interface DeployCheck {
  readonly ok: boolean;
  /** Lines for stderr: the issues when refused, notes otherwise. */
  readonly lines: readonly string[];
}

/** Checks an environment's config as the Worker would load it. */
export function checkWorkerEnvironment(environment: WranglerEnvironment, label: string): DeployCheck {
  const source = environment.vars?.ARGO_STS_CONFIG;
  if (source === undefined) {
    return { ok: true, lines: [`argo-sts: ${label}: ARGO_STS_CONFIG is not a var here (a secret?), so it is not checked; run \`argo-sts config check FILE\` on the document you put`] };
  }
  if (typeof source !== 'string') return { ok: false, lines: [`ARGO_STS_CONFIG: must be a string (the YAML or JSON document) in ${label}`] };
  let config;
  try {
    config = loadWorkerConfig(source);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { ok: false, lines: [...err.issues, `argo-sts: ${label}: the config is invalid; not deployed`] };
  }
  const binding = auditD1Binding(config);
  const vars = Object.fromEntries(Object.entries(environment.vars ?? {}).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
  // An env: reference that is not a var must be a Worker secret, which only Cloudflare can see.
  const lines = unsetEnvSecrets(config, vars).map((warning) => `warning: ${warning.replace(/ is not set here;.*/, ` is not a var of ${label}: it must be a Worker secret (wrangler secret put)`)}`);
  const d1 = (environment.d1_databases ?? []).map((db) => db.binding);
  if (binding !== undefined && !d1.includes(binding)) {
    return { ok: false, lines: [`audit.sink: d1:${binding} names no D1 binding of ${label} (has: ${d1.join(', ') || 'none'}); add [[d1_databases]] binding = "${binding}"`, `argo-sts: ${label}: not deployed`] };
  }
  if (!(environment.durable_objects?.bindings ?? []).some((b) => b.name === COORDINATOR_BINDING)) {
    lines.push(`argo-sts: ${label}: no ${COORDINATOR_BINDING} Durable Object binding: single-use tokens and rate limits are per isolate (docs/policy.md)`);
  }
  lines.push(`argo-sts: ${label}: config ok`);
  return { ok: true, lines };
}

/** `-c/--config` and `-e/--env` as wrangler reads them (`--env x`, `--env=x`). */
export function wranglerTarget(args: readonly string[]): { config?: string; env?: string } {
  const out: { config?: string; env?: string } = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    for (const [key, names] of [['config', ['-c', '--config']], ['env', ['-e', '--env']]] as const) {
      for (const name of names) {
        if (arg === name && args[i + 1] !== undefined) out[key] = args[i + 1];
        else if (arg.startsWith(`${name}=`)) out[key] = arg.slice(name.length + 1);
      }
    }
  }
  return out;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const target = wranglerTarget(args);
  const { unstable_readConfig } = await import('wrangler');
  const environment = unstable_readConfig({ config: target.config, env: target.env }, { hideWarnings: true }) as WranglerEnvironment;
  const check = checkWorkerEnvironment(environment, target.env ? `environment "${target.env}"` : 'the top-level environment');
  for (const line of check.lines) process.stderr.write(`${line}\n`);
  if (!check.ok) process.exit(2);
  const run = spawnSync('npx', ['--no-install', 'wrangler', 'deploy', ...args], { stdio: 'inherit' });
  process.exit(run.status ?? 1);
}
