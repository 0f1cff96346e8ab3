/**
 * Builds the issuer of every configured target kind once, at start-up: resolves each target's
 * secrets (the cluster bearer token and CA, the Entra client secret) and asks the runtime for
 * what only it can make (a fetch that trusts a private CA; an MSAL client).
 */
import { StartupError } from '../errors.ts';
import type { Config, TargetConfig } from '../config/schema.ts';
import type { CryptoPort } from '../keys/crypto-port.ts';
import type { FetchLike } from '../http/fetch-capped.ts';
import type { SigningKeys } from '../keys/signing-keys.ts';
import { type EntraTarget, type EntraTokenClient, entraIssuer } from './entra.ts';
import type { TargetIssuers } from './issue-credential.ts';
import { kubernetesOidcIssuer } from './kubernetes-oidc.ts';
import { kubernetesTokenRequestIssuer, type TokenRequestConnection } from './kubernetes-tokenrequest.ts';

export interface TargetPorts {
  readonly fetch: FetchLike;
  readonly resolveSecret: (ref: string) => Promise<string>;
  readonly warn: (message: string) => void;
  /** Node: a fetch that trusts this PEM CA bundle. Absent on Workers, where fetch cannot. */
  readonly fetchTrustingCa?: ((caPem: string) => FetchLike) | undefined;
  /** An MSAL ConfidentialClientApplication for an Entra target (functions/ports/entra-msal.ts). */
  readonly entraClient?: ((target: EntraTarget, clientSecret: string) => EntraTokenClient) | undefined;
  /** Signs kubernetes-oidc credentials: node:crypto on Node; WebCrypto when absent. */
  readonly crypto?: CryptoPort | undefined;
}

export class TargetSetupError extends StartupError {
  override name = 'TargetSetupError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_TARGET_SETUP', message, options);
  }
}

export async function buildTargetIssuers(config: Config, keys: SigningKeys, ports: TargetPorts): Promise<TargetIssuers> {
  const connections = new Map<string, TokenRequestConnection>();
  const entraClients = new Map<string, EntraTokenClient>();
  for (const target of config.targets) {
    if (target.kind === 'kubernetes-tokenrequest') {
      connections.set(target.name, await tokenRequestConnection(target, ports));
    } else if (target.kind === 'entra-obo' || target.kind === 'entra-client-credentials') {
      if (!ports.entraClient) throw new TargetSetupError(`targets: "${target.name}" (${target.kind}) needs MSAL, which this runtime does not provide`);
      entraClients.set(target.name, ports.entraClient(target, (await ports.resolveSecret(target.client_secret)).trim()));
    }
  }
  const entra = entraIssuer(entraClients, ports.warn);
  return {
    'kubernetes-oidc': kubernetesOidcIssuer(config.issuer, keys, ports.crypto),
    'kubernetes-tokenrequest': kubernetesTokenRequestIssuer(connections, ports.warn),
    'entra-obo': entra,
    'entra-client-credentials': entra,
  };
}

async function readBearerToken(target: Extract<TargetConfig, { kind: 'kubernetes-tokenrequest' }>, ports: TargetPorts): Promise<string> {
  const bearerToken = (await ports.resolveSecret(target.credentials)).trim();
  if (bearerToken === '' || /\s/.test(bearerToken)) {
    throw new TargetSetupError(`targets: "${target.name}".credentials does not hold a bearer token`);
  }
  return bearerToken;
}

async function tokenRequestConnection(target: Extract<TargetConfig, { kind: 'kubernetes-tokenrequest' }>, ports: TargetPorts): Promise<TokenRequestConnection> {
  const bearerToken = await readBearerToken(target, ports);
  const reloadBearerToken = () => readBearerToken(target, ports);
  if (target.ca === undefined) return { fetch: ports.fetch, bearerToken, reloadBearerToken };
  if (!ports.fetchTrustingCa) {
    throw new TargetSetupError(
      `targets: "${target.name}".ca cannot be used on this runtime (Workers' fetch trusts public CAs only): ` +
        'give the API server a publicly trusted certificate and drop ca, or use a kubernetes-oidc target',
    );
  }
  const pem = await ports.resolveSecret(target.ca);
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new TargetSetupError(`targets: "${target.name}".ca is not a PEM certificate bundle`);
  return { fetch: ports.fetchTrustingCa(pem), bearerToken, reloadBearerToken };
}
