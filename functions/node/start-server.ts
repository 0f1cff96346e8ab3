/**
 * The Node runtime's server: the broker built from the config with Node's ports (node:crypto,
 * secrets from the environment, files and the AWS SDK, the SQLite sink, Prometheus), served on
 * HOST:PORT through @hono/node-server. stdout carries audit lines only; operator messages go to
 * stderr.
 */
import { serve, type HttpBindings } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../../shared/config/parse-config.ts';
import type { Config } from '../../shared/config/schema.ts';
import { createBroker } from '../../shared/broker/create-broker.ts';
import type { Broker } from '../../shared/broker/broker.ts';
import { loadNodeConfig } from './config-source.ts';
import { msalEntraClientFactory } from '../ports/entra-msal.ts';
import { fetchTrustingCa } from './ca-fetch.ts';
import { nodeCryptoPort } from './crypto-port.ts';
import { nodeSecretStore } from './secrets.ts';
import { incomingBody, incomingHeader } from './read-body.ts';
import { createApp } from '../http/app.ts';
import { createPrometheusMetrics, metricsRoutes } from './prometheus.ts';

import { StartupError } from '../../shared/errors.ts';
import type { PostgresDatabase } from './postgres/database.ts';
import type { PostgresStateStores } from './postgres/state-stores.ts';

export interface NodeServer {
  readonly url: string;
  readonly broker: Broker;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly config: Config;
  readonly env?: NodeJS.ProcessEnv;
  readonly host?: string;
  readonly port?: number;
  readonly writeLine?: (line: string) => void;
  readonly warn?: (message: string) => void;
}

export async function startNodeServer(options: StartOptions): Promise<NodeServer> {
  const { config } = options;
  const env = options.env ?? process.env;
  const warn = options.warn ?? ((message: string) => process.stderr.write(`${message}\n`));
  const sinkSpec = config.audit.sink;
  if (sinkSpec?.startsWith('d1:')) throw new ConfigError(['audit.sink: d1: sinks exist on Workers only; use sqlite:PATH or postgres on Node']);
  const secrets = nodeSecretStore(env);
  // One PostgreSQL pool per replica when the config uses it, opened (and migrated) once, by the
  // audit sink or, without one, right after the broker is built: in either case before serving.
  const usesPostgres = sinkSpec === 'postgres' || config.state.store === 'postgres';
  let database: Promise<PostgresDatabase> | undefined;
  const openPostgres = () => (database ??= (async () => {
    const { connectPostgres } = await import('./postgres/connect.ts');
    return connectPostgres(await secrets.resolve(config.database!), {
      onReplaced: () => warn('database: a statement missed its deadline; the connection pool was replaced'),
    });
  })());
  const pool: PostgresDatabase = {
    query: async (sql, params) => (await openPostgres()).query(sql, params),
    transaction: async (run) => (await openPostgres()).transaction(run),
    close: async () => {},
  };
  const state: PostgresStateStores | undefined = config.state.store === 'postgres'
    ? (await import('./postgres/state-stores.ts')).postgresStateStores(pool, { warn, clock: () => Date.now() })
    : undefined;
  const closePostgres = async () => {
    state?.close();
    if (database) await (await database.catch(() => undefined))?.close();
  };
  // Loaded on demand: node:sqlite is only needed (and only warns) when the config asks for it.
  const openAuditSink = sinkSpec?.startsWith('sqlite:')
    ? async () => new (await import('./sqlite-audit-sink.ts')).SqliteAuditSink(sinkSpec.slice('sqlite:'.length))
    : sinkSpec === 'postgres'
      ? async () => new (await import('./postgres/audit-sink.ts')).PostgresAuditSink(await openPostgres())
      : undefined;
  // Approvals live in the same database when there is one (else in memory).
  const openApprovalStore = sinkSpec?.startsWith('sqlite:')
    ? async () => (await import('./sqlite-approval-store.ts')).sqliteApprovalStore(sinkSpec.slice('sqlite:'.length))
    : sinkSpec === 'postgres'
      ? async () => (await import('./postgres/approval-store.ts')).postgresApprovalStore(await openPostgres())
      : undefined;
  // Prometheus at /metrics: the broker reports through this port; prom-client stays on Node.
  const metrics = createPrometheusMetrics();
  const broker = await createBroker(config, {
    fetch: (input, init) => fetch(input, init),
    clock: () => Date.now(),
    resolveSecret: (ref) => secrets.resolve(ref),
    resolveSecretStage: (ref, stage) => secrets.resolveStage(ref, stage),
    writeLine: options.writeLine ?? ((line) => process.stdout.write(`${line}\n`)),
    warn,
    openAuditSink,
    metrics,
    replayCache: state?.replayCache,
    rateLimitStore: state?.rateLimitStore,
    openApprovalStore,
    shareInFlight: true,
    fetchTrustingCa,
    entraClient: msalEntraClientFactory((input, init) => fetch(input, init)),
    // node:crypto for verify/sign/hash; ARGO_STS_CRYPTO=webcrypto keeps WebCrypto (bench A/B, fallback).
    crypto: env.ARGO_STS_CRYPTO === 'webcrypto' ? undefined : nodeCryptoPort,
  }).then(async (built) => {
    if (usesPostgres) await openPostgres();
    return built;
  }).catch(async (err: unknown) => {
    await closePostgres();
    throw err;
  });
  const app = createApp({
    broker: async () => {
      void broker.signingKeys.maintain?.(Date.now()); // a due key refresh runs beside the request
      return broker;
    },
    clientIp: (c) => (c.env as HttpBindings | undefined)?.incoming?.socket.remoteAddress,
    requestBody: incomingBody,
    requestHeader: incomingHeader,
    fetchTrustingCa,
    logError: (message, err) => warn(`${message}: ${err instanceof Error ? (err.stack ?? err.name) : 'unknown error'}`),
  });
  metrics.watchSigningKeys(() => broker.signingKeys);
  app.route('/', metricsRoutes(metrics));
  const host = options.host ?? '127.0.0.1';
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: options.port ?? 8787 }, () => resolve(s as Server));
    (s as Server).once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    broker,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await broker.audit.close();
      await closePostgres();
    },
  };
}

/** What starts the server: the environment, and the flags `argo-sts serve` takes over it. */
export interface RunOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly configFile?: string | undefined;
  readonly host?: string | undefined;
  readonly port?: string | undefined;
  readonly stderr: (text: string) => void;
  /** Resolves when the server should stop (default: SIGTERM or SIGINT). */
  readonly stopped?: Promise<void>;
}

/** Exit codes of the server process: 0 stopped cleanly, 1 failed while stopping, 2 could not start. */
export const SERVER_EXIT = { ok: 0, failed: 1, startup: 2 } as const;

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
}

/** A port number, or a one-line reason it is not one. */
function parsePort(value: string | undefined): number | string {
  if (value === undefined || value === '') return 8787;
  const port = Number(value);
  return /^\d+$/.test(value) && port <= 65535 ? port : `PORT must be a port number (0-65535), got ${JSON.stringify(value)}`;
}

/**
 * The one main of the Node runtime, shared by `npm start` (functions/node.ts) and `argo-sts serve`:
 * load the config, check the address, start, serve until stopped. A fatal start-up error (any
 * StartupError: config, secrets, signing keys, targets) is one line on stderr and exit code 2.
 */
export async function runServer(options: RunOptions): Promise<number> {
  const env = { ...options.env };
  if (options.configFile !== undefined) {
    env.ARGO_STS_CONFIG_FILE = options.configFile;
    delete env.ARGO_STS_CONFIG;
  }
  const port = parsePort(options.port ?? env.PORT);
  if (typeof port === 'string') {
    options.stderr(`argo-sts: ${port}\n`);
    return SERVER_EXIT.startup;
  }
  let server: NodeServer;
  let config: Config;
  try {
    config = loadNodeConfig(env);
    server = await startNodeServer({ config, env, host: options.host ?? (env.HOST || '127.0.0.1'), port });
  } catch (err) {
    if (err instanceof StartupError) {
      options.stderr(`argo-sts: ${err.message}\n`);
      return SERVER_EXIT.startup;
    }
    throw err;
  }
  options.stderr(`argo-sts: serving ${config.issuer} on ${server.url}\n`);
  await (options.stopped ?? untilSignal());
  try {
    await server.close();
    return SERVER_EXIT.ok;
  } catch {
    return SERVER_EXIT.failed;
  }
}
