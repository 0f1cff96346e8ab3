/**
 * GetSecretValue for Workers without the AWS SDK: the same call the SDK makes — AWS JSON 1.1
 * (`POST /`, `X-Amz-Target: secretsmanager.GetSecretValue`), signed with Signature Version 4 on
 * Web Crypto — in a few kilobytes instead of the SDK's ~60 KB gzipped, which would push the
 * Worker bundle past its budget (measured; see docs/architecture.md, "Workers bundle").
 * Node uses @aws-sdk/client-secrets-manager (aws-secrets-manager.ts) with its credential chain.
 *
 * Settings are the SDK's variable names, read by awsClientSettings: on Workers AWS_REGION,
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (required: there is no credential chain),
 * AWS_SESSION_TOKEN, AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL.
 */
import type { FetchLike } from '../../shared/http/fetch-capped.ts';
import { readCapped } from '../../shared/http/fetch-capped.ts';
import type { SecretStage, SecretVersion } from '../../shared/config/secret-refs.ts';
import { SecretError } from '../../shared/config/secret-refs.ts';
import { type AwsEnv, awsClientSettings } from '../node/aws-sdk-secrets.ts';

const SERVICE = 'secretsmanager';
/** As the SDK client is configured on Node: 5 s per attempt, one retry for a throttle, 5xx or network error. */
const REQUEST_TIMEOUT_MS = 5_000;
const MAX_ATTEMPTS = 2;
/** A secret value is at most 64 KiB; its JSON envelope a little more. */
const MAX_RESPONSE_BYTES = 256 * 1024;

const encoder = new TextEncoder();

function hex(buffer: ArrayBuffer): string {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256Hex(data: string): Promise<string> {
  return hex(await crypto.subtle.digest('SHA-256', encoder.encode(data)));
}

async function hmac(key: ArrayBuffer | Uint8Array<ArrayBuffer>, data: string): Promise<ArrayBuffer> {
  const k = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return crypto.subtle.sign('HMAC', k, encoder.encode(data));
}

export interface SigV4Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
}

/** Signed headers for a POST of `body` to `url` (AWS Signature Version 4, header form). */
export async function signAwsJsonRequest(
  url: URL,
  headers: Record<string, string>,
  body: string,
  credentials: SigV4Credentials,
  region: string,
  now: Date,
): Promise<Record<string, string>> {
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const all: Record<string, string> = { ...headers, host: url.host, 'x-amz-date': amzDate };
  if (credentials.sessionToken) all['x-amz-security-token'] = credentials.sessionToken;
  const names = Object.keys(all).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), v.trim().replace(/\s+/g, ' ')]));
  const canonicalHeaders = names.map((n) => `${n}:${lower[n]}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = ['POST', url.pathname || '/', '', canonicalHeaders, signedHeaders, await sha256Hex(body)].join('\n');
  const scope = `${date}/${region}/${SERVICE}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, await sha256Hex(canonicalRequest)].join('\n');
  let key = await hmac(encoder.encode(`AWS4${credentials.secretAccessKey}`), date);
  for (const part of [region, SERVICE, 'aws4_request']) key = await hmac(key, part);
  const signature = hex(await hmac(key, stringToSign));
  const { host: _host, ...sent } = all; // fetch sets Host from the URL
  return {
    ...sent,
    authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}

function defaultEndpoint(region: string): string {
  return `https://secretsmanager.${region}.amazonaws.${region.startsWith('cn-') ? 'com.cn' : 'com'}`;
}

/** The `__type` of an AWS JSON error ("com.amazonaws...#ResourceNotFoundException" → the part after #). */
function errorType(text: string, headers: Headers): string {
  const fromHeader = headers.get('x-amzn-errortype')?.split(':')[0];
  try {
    const type = (JSON.parse(text) as { __type?: unknown }).__type;
    if (typeof type === 'string') return type.split('#').pop()!;
  } catch {
    /* not JSON */
  }
  return fromHeader || 'UnknownError';
}

type Reader = (secretId: string, stage: SecretStage) => Promise<SecretVersion | undefined>;

export function awsSecretsManagerFetchReader(env: AwsEnv, fetch: FetchLike, clock: () => number = () => Date.now()): Reader {
  return async (secretId, stage) => {
    const ref = `aws-secrets-manager:${secretId}`;
    let settings;
    try {
      settings = awsClientSettings(env, { requireExplicitCredentials: true });
    } catch (err) {
      throw new SecretError(ref, `GetSecretValue (${stage}) failed: ${(err as Error).message}`);
    }
    const url = new URL(settings.endpoint ?? defaultEndpoint(settings.region));
    const body = JSON.stringify({ SecretId: secretId, VersionStage: stage });
    let failure = 'no attempt';
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      let response: Response;
      try {
        const headers = await signAwsJsonRequest(url, {
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': 'secretsmanager.GetSecretValue',
        }, body, settings.credentials!, settings.region, new Date(clock()));
        response = await fetch(url.toString(), { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      } catch (err) {
        failure = err instanceof Error ? err.name : 'NetworkError';
        continue;
      }
      const text = await readCapped(response, MAX_RESPONSE_BYTES, 'GetSecretValue').catch(() => '');
      if (response.status === 200) {
        let out: { SecretString?: unknown; VersionId?: unknown };
        try {
          out = JSON.parse(text) as typeof out;
        } catch {
          throw new SecretError(ref, `GetSecretValue (${stage}) failed: the answer is not JSON (is the endpoint Secrets Manager?)`);
        }
        if (typeof out !== 'object' || out === null) throw new SecretError(ref, `GetSecretValue (${stage}) failed: the answer is not a JSON object`);
        if (typeof out.SecretString !== 'string') throw new SecretError(ref, `GetSecretValue (${stage}) failed: the secret has no SecretString (binary secrets are not supported)`);
        return { value: out.SecretString, version: typeof out.VersionId === 'string' ? out.VersionId : stage };
      }
      failure = errorType(text, response.headers);
      if (failure === 'ResourceNotFoundException' && stage !== 'AWSCURRENT') return undefined;
      const retryable = response.status >= 500 || failure === 'ThrottlingException';
      if (!retryable) break;
    }
    throw new SecretError(ref, `GetSecretValue (${stage}) failed: ${failure}`);
  };
}
