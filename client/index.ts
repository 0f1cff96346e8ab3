/**
 * argo-sts client: token exchange, diagnosis and a refreshing credential cache on fetch.
 *
 *   const credential = await exchange({ broker: 'https://sts.example.com' },
 *     { subjectToken, audience: 'argo-prod', scope: 'argo:read', namespace: 'ci' });
 */
export {
  buildDiagnoseRequest, buildTokenRequest, CLIENT_LIMITS, type ClientOptions, type Credential, decideApproval, diagnose, type DiagnoseCheck,
  type Diagnosis, exchange, exchangeParameters, type ExchangeRequest, type FetchLike, GRANT_TYPE_TOKEN_EXCHANGE, listTargets,
  processDiagnoseResponse, processTargetsResponse, processTokenResponse, type TargetInfo, TOKEN_TYPE_ACCESS_TOKEN,
  TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT,
} from './sts-client.ts';
export { type ClientErrorCode, type PendingApproval, StsClientError, StsRequestError, StsTransportError } from './errors.ts';
export { cacheKey, CredentialCache, type CredentialCacheOptions, refreshAt } from './credential-cache.ts';
export { decodeJwtClaims } from './decode-jwt.ts';
