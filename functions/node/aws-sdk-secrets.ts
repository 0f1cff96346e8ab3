/**
 * `aws-secrets-manager:` references on Node through @aws-sdk/client-secrets-manager
 * (GetSecretValue with a VersionStage), and the AWS settings both runtimes share.
 *
 * AWS configuration comes from the standard variable names — on Node from the process
 * environment, on Workers from Worker vars and secrets of the same names: AWS_REGION (or
 * AWS_DEFAULT_REGION), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_ENDPOINT_URL_SECRETS_MANAGER (or AWS_ENDPOINT_URL). With no access key set, Node falls
 * back to the SDK's default credential chain (instance or task roles, SSO, profiles); workerd
 * has no such chain, so the Worker requires the keys explicitly.
 *
 * The SDK is imported on first use, so a deployment without Secrets Manager never loads it. The
 * Worker does not bundle it at all: it signs the same call itself (aws-secrets-manager-fetch.ts),
 * which keeps the bundle under its 300 KiB budget.
 */
import type { SecretStage, SecretVersion } from '../../shared/config/secret-refs.ts';
import { SecretError } from '../../shared/config/secret-refs.ts';

export type AwsEnv = Readonly<Record<string, unknown>>;

/** A hung endpoint must not hold start-up or a key refresh; one retry absorbs a blip. */
const REQUEST_TIMEOUT_MS = 5_000;
const MAX_ATTEMPTS = 2;

export interface AwsSecretsManagerOptions {
  /** Workers: no default credential chain, so AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY must be set. */
  readonly requireExplicitCredentials: boolean;
}

function str(env: AwsEnv, name: string): string | undefined {
  const value = env[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The client settings from the AWS variables; a missing region or (on Workers) key is a clear error. */
export function awsClientSettings(env: AwsEnv, options: AwsSecretsManagerOptions) {
  const region = str(env, 'AWS_REGION') ?? str(env, 'AWS_DEFAULT_REGION');
  if (!region) throw new Error('AWS_REGION is not set');
  const accessKeyId = str(env, 'AWS_ACCESS_KEY_ID');
  const secretAccessKey = str(env, 'AWS_SECRET_ACCESS_KEY');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new Error('set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither');
  }
  if (options.requireExplicitCredentials && !accessKeyId) {
    throw new Error('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be Worker secrets (workerd has no default credential chain)');
  }
  const credentials = accessKeyId && secretAccessKey
    ? { accessKeyId, secretAccessKey, ...(str(env, 'AWS_SESSION_TOKEN') ? { sessionToken: str(env, 'AWS_SESSION_TOKEN') } : {}) }
    : undefined;
  const endpoint = str(env, 'AWS_ENDPOINT_URL_SECRETS_MANAGER') ?? str(env, 'AWS_ENDPOINT_URL');
  return { region, credentials, endpoint };
}

type Reader = (secretId: string, stage: SecretStage) => Promise<SecretVersion | undefined>;

/** A reader of one secret version stage; the SDK client is made once, on the first call. */
export function awsSecretsManagerReader(env: AwsEnv, options: AwsSecretsManagerOptions): Reader {
  let client: Promise<{ send: (stage: string, secretId: string) => Promise<SecretVersion | undefined> }> | undefined;
  async function makeClient() {
    const settings = awsClientSettings(env, options);
    const sdk = await import('@aws-sdk/client-secrets-manager');
    const sm = new sdk.SecretsManagerClient({
      region: settings.region,
      ...(settings.credentials ? { credentials: settings.credentials } : {}),
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      maxAttempts: MAX_ATTEMPTS,
      requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS, connectionTimeout: REQUEST_TIMEOUT_MS },
    });
    return {
      async send(stage: string, secretId: string) {
        try {
          const out = await sm.send(new sdk.GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
          if (typeof out.SecretString !== 'string') {
            throw new Error('the secret has no SecretString (binary secrets are not supported)');
          }
          return { value: out.SecretString, version: out.VersionId ?? stage };
        } catch (err) {
          if (err instanceof sdk.ResourceNotFoundException && stage !== 'AWSCURRENT') return undefined;
          throw err;
        }
      },
    };
  }
  return async (secretId, stage) => {
    const ref = `aws-secrets-manager:${secretId}`;
    try {
      // Each call awaits its own client promise; on Workers the client object (not a pending
      // request) is what is shared, and it is created inside the first caller's request.
      if (!client) {
        const made = makeClient();
        client = made;
        made.catch(() => {
          if (client === made) client = undefined; // a settings error is retried after it is fixed
        });
      }
      return await (await client).send(stage, secretId);
    } catch (err) {
      if (err instanceof SecretError) throw err;
      const name = err instanceof Error ? err.name : 'Error';
      const detail = name === 'Error' || name === 'TypeError' ? (err as Error).message : name;
      throw new SecretError(ref, `GetSecretValue (${stage}) failed: ${detail}`, { cause: err });
    }
  };
}
