/**
 * The request, read leniently: parameters /token would refuse become findings of the check they
 * concern, or request problems. Each parameter is validated by /token's own parser, alone.
 */
import { causeById } from './catalogue.ts';
import { StsError } from '../errors.ts';
import { fail } from '../checks.ts';
import { parseTokenRequest, type RawParameters, type TokenRequest } from '../exchange/token-request.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_JWT } from '../oauth.ts';
import { type Annotated, type RequestProblem } from './diagnosis.ts';

// request problems. Each parameter is validated by /token's own parser, alone.

export interface LenientRequest {
  readonly tokenUsable: boolean;
  readonly audience: string | undefined;
  readonly namespace: string | undefined;
  readonly scopes: readonly string[] | undefined;
  readonly requestedTtl: number | undefined;
  readonly actorToken: string | undefined;
}

export const VALID_BASE: RawParameters = { grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token: 'x', subject_token_type: TOKEN_TYPE_JWT };

export function parseAlone(params: RawParameters): TokenRequest | string {
  try {
    return parseTokenRequest({ ...VALID_BASE, ...params });
  } catch (err) {
    if (err instanceof StsError) return err.message;
    throw err;
  }
}

export function readRequest(params: RawParameters, findings: Annotated[]): { problems: RequestProblem[]; request: LenientRequest } {
  const problems: RequestProblem[] = [];
  for (const name of ['grant_type', 'subject_token_type', 'requested_token_type', 'requested_ttl', 'resource'] as const) {
    if (params[name] === undefined) continue;
    const result = parseAlone({ [name]: params[name] });
    if (typeof result === 'string') problems.push({ parameter: name, message: result });
  }
  let actorToken: string | undefined;
  if (params.actor_token !== undefined || params.actor_token_type !== undefined) {
    const result = parseAlone({ actor_token: params.actor_token, actor_token_type: params.actor_token_type });
    if (typeof result === 'string') problems.push({ parameter: 'actor_token', message: result });
    else actorToken = result.actorToken;
  }

  const scope = parseAlone({ scope: params.scope });
  if (typeof scope === 'string') findings.push({ ...fail('scope', 'ERR_REQUEST_MALFORMED', scope, { actual: params.scope }), cause: causeById('scope.malformed') });
  const namespace = parseAlone({ namespace: params.namespace });
  if (typeof namespace === 'string') findings.push({ ...fail('namespace', 'ERR_REQUEST_MALFORMED', namespace, { actual: params.namespace }), cause: causeById('namespace.malformed') });
  const audience = parseAlone({ audience: params.audience });
  if (typeof audience === 'string') findings.push(fail('target', 'ERR_REQUEST_MALFORMED', audience));
  const ttl = parseAlone({ requested_ttl: params.requested_ttl });

  let tokenUsable = true;
  if (!params.subject_token) {
    findings.push({ ...fail('format', 'ERR_REQUEST_MALFORMED', 'subject_token is required'), cause: causeById('format.missing') });
    tokenUsable = false;
  } else {
    const size = parseAlone({ subject_token: params.subject_token });
    if (typeof size === 'string') {
      findings.push({ ...fail('format', 'ERR_REQUEST_TOO_LARGE', size), cause: causeById('format.too-large') });
      tokenUsable = false;
    }
  }
  return {
    problems,
    request: {
      tokenUsable,
      audience: typeof audience === 'string' ? undefined : audience.audience,
      namespace: typeof namespace === 'string' ? undefined : namespace.namespace,
      scopes: typeof scope === 'string' ? undefined : scope.scopes,
      requestedTtl: typeof ttl === 'string' ? undefined : ttl.requestedTtl,
      actorToken,
    },
  };
}
