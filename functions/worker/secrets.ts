/**
 * Secret references on Workers: `env:NAME` from the Worker's vars and secrets,
 * `aws-secrets-manager:ID[#key]` through a SigV4-signed GetSecretValue on fetch (the AWS SDK
 * would cost ~60 KB of the bundle; see aws-secrets-manager-fetch.ts), with AWS settings from
 * Worker vars and secrets of the standard names (keys required: workerd has no default
 * credential chain). No filesystem here.
 */
import type { FetchLike } from '../../shared/http/fetch-capped.ts';
import { createSecretStore, type SecretStore } from '../../shared/config/secret-refs.ts';
import { awsSecretsManagerFetchReader } from './aws-sigv4-secrets.ts';

export function workerSecretStore(env: Readonly<Record<string, unknown>>, fetcher: FetchLike = (input, init) => fetch(input, init)): SecretStore {
  return createSecretStore({
    runtime: 'Workers',
    env: (name) => (typeof env[name] === 'string' ? (env[name] as string) : undefined),
    awsSecretsManager: awsSecretsManagerFetchReader(env, fetcher),
  });
}
