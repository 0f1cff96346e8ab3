/**
 * Secret references — `env:NAME`, `file:PATH`, `aws-secrets-manager:ID[#jsonKey]` — parsed and
 * resolved in one place. The runtime adapters (functions/node/, functions/worker/) supply only the backends:
 * where an environment variable, a file or a Secrets Manager version stage comes from.
 *
 * A `#jsonKey` suffix selects one member of a secret stored as a JSON object (the AWS console's
 * key/value secrets); a member that is not a string is returned as its JSON text.
 */
import { StartupError } from '../errors.ts';

export type SecretRef =
  | { readonly kind: 'env'; readonly name: string }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'aws-secrets-manager'; readonly secretId: string; readonly jsonKey?: string | undefined };

/** Version stages of AWS Secrets Manager; `env:` and `file:` secrets have only a current value. */
export type SecretStage = 'AWSCURRENT' | 'AWSPREVIOUS' | 'AWSPENDING';

export interface SecretVersion {
  readonly value: string;
  /** Identifies the version (AWS VersionId; for env/file a fixed label). */
  readonly version: string;
}

/** A secret reference that is malformed, missing or unreadable. The message never holds the value. */
export class SecretError extends StartupError {
  override name = 'SecretError';
  constructor(ref: string, problem: string, options?: { cause?: unknown }) {
    super('ERR_SECRET', `secret ${ref}: ${problem}`, options);
  }
}

export function parseSecretRef(ref: string): SecretRef {
  if (ref.startsWith('env:')) {
    const name = ref.slice(4);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new SecretError(ref, 'not a valid environment variable name');
    return { kind: 'env', name };
  }
  if (ref.startsWith('file:')) {
    const path = ref.slice(5);
    if (path === '') throw new SecretError(ref, 'the path is empty');
    return { kind: 'file', path };
  }
  if (ref.startsWith('aws-secrets-manager:')) {
    const rest = ref.slice('aws-secrets-manager:'.length);
    const hash = rest.indexOf('#');
    const secretId = hash < 0 ? rest : rest.slice(0, hash);
    const jsonKey = hash < 0 ? undefined : rest.slice(hash + 1);
    if (secretId === '' || /\s/.test(secretId)) throw new SecretError(ref, 'the secret id is empty or has spaces');
    if (jsonKey === '') throw new SecretError(ref, 'the #key after the secret id is empty');
    return { kind: 'aws-secrets-manager', secretId, jsonKey };
  }
  throw new SecretError(ref, 'unknown reference kind (use env:NAME, file:PATH or aws-secrets-manager:ID[#key])');
}

/** Where a runtime reads secrets from. A backend it lacks is reported as unavailable there. */
export interface SecretBackends {
  /** The runtime's name for messages ("Node", "Workers"). */
  readonly runtime: string;
  readonly env: (name: string) => string | undefined;
  readonly file?: ((path: string) => Promise<string>) | undefined;
  /** The secret's string at a version stage; undefined when no version carries that stage. */
  readonly awsSecretsManager?: ((secretId: string, stage: SecretStage) => Promise<SecretVersion | undefined>) | undefined;
}

export interface SecretStore {
  /** The current value of a reference. */
  resolve(ref: string): Promise<string>;
  /**
   * The value at a version stage, or undefined when no version carries it. `env:` and `file:`
   * references have only AWSCURRENT (read afresh on every call, so a rewritten file is seen).
   */
  resolveStage(ref: string, stage: SecretStage): Promise<SecretVersion | undefined>;
}

export function createSecretStore(backends: SecretBackends): SecretStore {
  async function resolveStage(ref: string, stage: SecretStage): Promise<SecretVersion | undefined> {
    const parsed = parseSecretRef(ref);
    switch (parsed.kind) {
      case 'env': {
        if (stage !== 'AWSCURRENT') return undefined;
        const value = backends.env(parsed.name);
        if (value === undefined || value === '') throw new SecretError(ref, `${backends.runtime} variable ${parsed.name} is not set`);
        return { value, version: 'env' };
      }
      case 'file': {
        if (!backends.file) throw new SecretError(ref, `file: references are not available on ${backends.runtime}; use env:NAME or aws-secrets-manager:ID`);
        if (stage !== 'AWSCURRENT') return undefined;
        return { value: await backends.file(parsed.path), version: 'file' };
      }
      case 'aws-secrets-manager': {
        if (!backends.awsSecretsManager) throw new SecretError(ref, `aws-secrets-manager: references are not available on ${backends.runtime}`);
        const found = await backends.awsSecretsManager(parsed.secretId, stage);
        if (!found) return undefined;
        return parsed.jsonKey === undefined ? found : { ...found, value: selectJsonKey(ref, found.value, parsed.jsonKey) };
      }
    }
  }
  return {
    resolveStage,
    async resolve(ref) {
      const found = await resolveStage(ref, 'AWSCURRENT');
      if (!found) throw new SecretError(ref, 'no version is staged AWSCURRENT');
      return found.value;
    },
  };
}

function selectJsonKey(ref: string, text: string, key: string): string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new SecretError(ref, `the secret is not a JSON object, so #${key} cannot select a member`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc) || !Object.hasOwn(doc, key)) {
    throw new SecretError(ref, `the secret has no member "${key}"`);
  }
  const value = (doc as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : JSON.stringify(value);
}
