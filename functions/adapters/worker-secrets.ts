/**
 * Secret references on Workers: `env:NAME` from the Worker's vars and secrets,
 * `aws-secrets-manager:ID[#key]` with AWS settings from Worker vars and secrets of the standard
 * names (keys required: workerd has no default credential chain). No filesystem here.
 */
import { createSecretStore, type SecretStore } from '../../shared/secret-refs.ts';
import { awsSecretsManagerReader } from './aws-secrets-manager.ts';

export function workerSecretStore(env: Readonly<Record<string, unknown>>): SecretStore {
  return createSecretStore({
    runtime: 'Workers',
    env: (name) => (typeof env[name] === 'string' ? (env[name] as string) : undefined),
    awsSecretsManager: awsSecretsManagerReader(env, { requireExplicitCredentials: true }),
  });
}
