/**
 * Builds the real Hono app around a real broker (real config parsing, real key import, real
 * JWKS fetches to loopback IdPs) with a frozen clock and captured stdout lines.
 */
import { msalEntraClientFactory } from '../../functions/ports/entra-msal.ts';
import { createApp } from '../../functions/http/app.ts';
import { fetchTrustingCa } from '../../functions/node/ca-fetch.ts';
import type { AuditSink } from '../../shared/audit/audit-event.ts';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { type BrokerPorts, createBroker } from '../../shared/broker/create-broker.ts';
import type { Broker } from '../../shared/broker/broker.ts';
import type { SecretStage, SecretStore } from '../../shared/config/secret-refs.ts';
import { idTokenExchangeForm } from './token-requests.ts';

export interface Harness {
  readonly app: ReturnType<typeof createApp>;
  readonly broker: Broker;
  /** Every stdout line, parsed. */
  readonly lines: Record<string, unknown>[];
  readonly errors: string[];
  /** Moves the frozen clock. */
  setNow(seconds: number): void;
  /** POST /token: an ID-token exchange (test/support/token-requests.ts) with `params` as the form. */
  exchange(params: Record<string, string>, init?: { headers?: Record<string, string> }): Promise<Response>;
  /** POST /diagnose with `params` as the form (no fields are added). */
  diagnose(params: Record<string, string>): Promise<Response>;
  audits(): Record<string, unknown>[];
}

export async function buildHarness(configYaml: string, options: { now: number; env?: Record<string, string>; auditSink?: AuditSink; secrets?: SecretStore; ports?: Partial<BrokerPorts> }): Promise<Harness> {
  let nowMs = options.now * 1000;
  const lines: Record<string, unknown>[] = [];
  const errors: string[] = [];
  const broker = await createBroker(parseConfigText(configYaml), {
    fetch: (input, init) => fetch(input, init),
    clock: () => nowMs,
    ...(options.secrets && { resolveSecretStage: (ref: string, stage: SecretStage) => options.secrets!.resolveStage(ref, stage) }),
    resolveSecret: async (ref) => {
      if (options.secrets) return options.secrets.resolve(ref);
      const value = options.env?.[ref.replace(/^env:/, '')];
      if (value === undefined) throw new Error(`secret ${ref} not set`);
      return value;
    },
    writeLine: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
    warn: (message) => errors.push(message),
    openAuditSink: options.auditSink && (() => options.auditSink!),
    shareInFlight: true,
    // Entra targets get the real MSAL client, as on Node (MSAL itself loads only when used).
    entraClient: msalEntraClientFactory((input, init) => fetch(input, init)),
    ...options.ports,
  });
  const app = createApp({
    broker: async () => broker,
    clientIp: () => '127.0.0.1',
    fetchTrustingCa,
    logError: (message) => errors.push(message),
  });
  return {
    app,
    broker,
    lines,
    errors,
    setNow(seconds) {
      nowMs = seconds * 1000;
    },
    exchange(params, init = {}) {
      return Promise.resolve(app.request('/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...init.headers },
        body: idTokenExchangeForm(params).toString(),
      }));
    },
    diagnose(params) {
      return Promise.resolve(app.request('/diagnose', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(params).toString(),
      }));
    },
    audits: () => lines.filter((l) => l.type === 'audit'),
  };
}
