/**
 * The Node runtime: `npm start`. Reads the config once, builds the broker, serves the app on
 * HOST (default 127.0.0.1) : PORT (default 8787). stdout carries audit lines only; operator
 * messages go to stderr.
 */
import { serve, type HttpBindings } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, type Config } from '../shared/config.ts';
import { createBroker } from '../shared/create-broker.ts';
import { countIdpFetches } from '../shared/metrics.ts';
import type { Broker } from '../shared/exchange.ts';
import { SigningKeyError } from '../shared/signing-keys.ts';
import { TargetSetupError } from '../shared/targets/build-target-issuers.ts';
import { loadNodeConfig } from './adapters/node-config.ts';
import { msalEntraClientFactory } from './adapters/entra-msal.ts';
import { fetchTrustingCa } from './adapters/node-ca-fetch.ts';
import { nodeCryptoPort } from './adapters/node-crypto-port.ts';
import { nodeSecretStore } from './adapters/node-secrets.ts';
import { incomingBody } from './adapters/node-request-body.ts';
import { createApp } from './app.ts';
import { createPrometheusMetrics, metricsRoutes } from './routes/metrics.ts';

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
  if (sinkSpec?.startsWith('d1:')) throw new ConfigError(['audit.sink: d1: sinks exist on Workers only; use sqlite:PATH on Node']);
  // Loaded on demand: node:sqlite is only needed (and only warns) when the config asks for it.
  const auditSink = sinkSpec?.startsWith('sqlite:')
    ? new (await import('./adapters/sqlite-audit-sink.ts')).SqliteAuditSink(sinkSpec.slice('sqlite:'.length))
    : undefined;
  const secrets = nodeSecretStore(env);
  // Prometheus at /metrics: the broker reports through this port; prom-client stays on Node.
  const metrics = createPrometheusMetrics();
  const broker = await createBroker(config, {
    fetch: countIdpFetches((input, init) => fetch(input, init), metrics),
    clock: () => Date.now(),
    resolveSecret: (ref) => secrets.resolve(ref),
    resolveSecretStage: (ref, stage) => secrets.resolveStage(ref, stage),
    writeLine: options.writeLine ?? ((line) => process.stdout.write(`${line}\n`)),
    warn,
    auditSink,
    auditObserver: metrics,
    shareInFlight: true,
    fetchTrustingCa,
    entraClient: msalEntraClientFactory((input, init) => fetch(input, init)),
    // node:crypto for verify/sign/hash; ARGO_STS_CRYPTO=webcrypto keeps WebCrypto (bench A/B, fallback).
    crypto: env.ARGO_STS_CRYPTO === 'webcrypto' ? undefined : nodeCryptoPort,
  });
  const app = createApp({
    broker: async () => {
      void broker.signingKeys.maintain?.(Date.now()); // a due key refresh runs beside the request
      return broker;
    },
    clientIp: (c) => (c.env as HttpBindings | undefined)?.incoming?.socket.remoteAddress,
    requestBody: incomingBody,
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
    },
  };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadNodeConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`argo-sts: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const port = process.env.PORT ? Number(process.env.PORT) : 8787;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`argo-sts: PORT must be a port number, got ${process.env.PORT}\n`);
    process.exit(2);
  }
  let server: NodeServer;
  try {
    server = await startNodeServer({ config, host: process.env.HOST || '127.0.0.1', port });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof SigningKeyError || err instanceof TargetSetupError || (err as Error).message?.startsWith('secret ')) {
      process.stderr.write(`argo-sts: ${(err as Error).message}\n`);
      process.exit(2);
    }
    throw err;
  }
  process.stderr.write(`argo-sts: serving ${config.issuer} on ${server.url}\n`);
  const stop = () => {
    server.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (import.meta.main) await main();
