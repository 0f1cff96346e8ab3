/**
 * Secret references on Node: `env:NAME` from the process environment, `file:PATH` from disk,
 * `aws-secrets-manager:ID[#key]` through the AWS SDK configured from the same environment.
 * Parsing and `#key` selection live in shared/config/secret-refs.ts.
 */
import { readFile } from 'node:fs/promises';
import { createSecretStore, SecretError, type SecretStore } from '../../shared/config/secret-refs.ts';
import { awsSecretsManagerReader } from './aws-sdk-secrets.ts';

export function nodeSecretStore(env: NodeJS.ProcessEnv): SecretStore {
  return createSecretStore({
    runtime: 'Node',
    env: (name) => env[name],
    file: async (path) => {
      try {
        return await readFile(path, 'utf8');
      } catch (err) {
        throw new SecretError(`file:${path}`, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
    },
    awsSecretsManager: awsSecretsManagerReader(env, { requireExplicitCredentials: false }),
  });
}
