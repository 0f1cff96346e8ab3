/**
 * `entra-obo` and `entra-client-credentials`: AKS tokens from Microsoft Entra ID.
 *
 * - entra-obo: the verified subject token (an Entra access token whose audience is the broker's
 *   app) is the assertion of an on-behalf-of exchange (grant
 *   urn:ietf:params:oauth:grant-type:jwt-bearer, requested_token_use=on_behalf_of): the AKS token
 *   is for the same user.
 * - entra-client-credentials: a token for the service principal the target names (its
 *   client_id), which a policy grants to matching subjects.
 *
 * The wire calls are @azure/msal-node's (functions/ports/entra-msal.ts implements
 * EntraTokenClient); this module decides scopes and maps Entra's answers to refusals.
 */
import type { TargetConfig } from '../config/schema.ts';
import { StsError } from '../errors.ts';
import { misconfigured, type TargetIssuer } from './issue-credential.ts';

export type EntraTarget = Extract<TargetConfig, { kind: 'entra-obo' | 'entra-client-credentials' }>;

/** The fixed AKS server application (Azure Kubernetes Service AAD Server); `.default` = its permissions. */
export const AKS_SCOPE = '6dae42f8-4368-4678-94ff-3960e28e3630/.default';
export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';

export interface EntraToken {
  readonly accessToken: string;
  /** Seconds since the epoch. */
  readonly expiresOn: number;
}

/** Entra answered with an OAuth error (RFC 6749 §5.2 `error`, plus its AADSTS code when given). */
export class EntraRefusal extends Error {
  override name = 'EntraRefusal';
  readonly error: string;
  readonly aadsts: string | undefined;
  constructor(error: string, aadsts: string | undefined, options?: { cause?: unknown }) {
    super(`Entra ID refused: ${error}${aadsts ? ` (${aadsts})` : ''}`, options);
    this.error = error;
    this.aadsts = aadsts;
  }
}

/** One ConfidentialClientApplication per target, with its in-memory cache, per process or isolate. */
export interface EntraTokenClient {
  onBehalfOf(assertion: string, scopes: readonly string[]): Promise<EntraToken>;
  clientCredentials(scopes: readonly string[]): Promise<EntraToken>;
}

export function entraScopes(target: EntraTarget): readonly string[] {
  return target.scopes ?? [AKS_SCOPE];
}

export function entraAuthority(target: EntraTarget): string {
  return `${(target.authority ?? DEFAULT_AUTHORITY_HOST).replace(/\/+$/, '')}/${target.tenant_id}`;
}

/** Errors that mean the user's token cannot be exchanged: the client's problem, said plainly. */
const USER_ERRORS = new Set(['invalid_grant', 'interaction_required', 'consent_required', 'login_required']);
/** Errors that mean the broker's registration or secret is wrong. */
const BROKER_ERRORS = new Set(['invalid_client', 'unauthorized_client', 'invalid_scope', 'invalid_resource']);

export function entraIssuer(clients: ReadonlyMap<string, EntraTokenClient>, warn: (message: string) => void): TargetIssuer {
  return {
    async issue(request) {
      const { target } = request;
      if (target.kind !== 'entra-obo' && target.kind !== 'entra-client-credentials') {
        throw new TypeError(`entra issuer given a ${target.kind} target`);
      }
      const client = clients.get(target.name);
      if (!client) throw new TypeError(`target ${target.name}: no Entra client (createBroker makes one per target)`);
      let token: EntraToken;
      try {
        token = target.kind === 'entra-obo'
          ? await client.onBehalfOf(request.subjectToken, entraScopes(target))
          : await client.clientCredentials(entraScopes(target));
      } catch (err) {
        throw refusalFor(target, err, warn);
      }
      const expiresIn = token.expiresOn - request.now;
      if (expiresIn <= 0) throw new StsError('ERR_UPSTREAM_UNAVAILABLE', 'Entra ID issued a token that has already expired (check the clock)');
      return { token: token.accessToken, expiresIn };
    },
  };
}

function refusalFor(target: EntraTarget, err: unknown, warn: (message: string) => void): StsError {
  if (err instanceof EntraRefusal) {
    if (target.kind === 'entra-obo' && USER_ERRORS.has(err.error)) {
      return new StsError(
        'ERR_UPSTREAM_REFUSED',
        `Entra ID refused the on-behalf-of exchange for this token (${err.error}${err.aadsts ? `, ${err.aadsts}` : ''})`,
        { cause: err },
      );
    }
    if (BROKER_ERRORS.has(err.error) || USER_ERRORS.has(err.error)) {
      return misconfigured(warn, target, `Entra ID answered ${err.error}${err.aadsts ? ` (${err.aadsts})` : ''}; check tenant_id, client_id, client_secret and the app's API permissions`, err);
    }
    warn(`argo-sts: target "${target.name}": Entra ID answered ${err.error}${err.aadsts ? ` (${err.aadsts})` : ''}`);
    return new StsError('ERR_UPSTREAM_UNAVAILABLE', `Entra ID could not issue a token (${err.error}); try again later`, { cause: err });
  }
  warn(`argo-sts: target "${target.name}": Entra ID is unreachable: ${err instanceof Error ? err.name : 'error'}`);
  return new StsError('ERR_UPSTREAM_UNAVAILABLE', 'Entra ID cannot be reached; try again later', { cause: err });
}
