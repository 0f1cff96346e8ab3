/** The shapes of kube-apiserver's JWT authenticators as argo-sts reads them, and the collector of configuration problems. */
import type { CompiledExpression } from './kube-cel.ts';

/** A decoded YAML/JSON object. */
export type Obj = Record<string, unknown>;

/** Every algorithm kube-apiserver accepts from an AuthenticationConfiguration. */
export const KUBE_SIGNING_ALGS = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512'] as const;

/** The check a config problem belongs to (the same ids as the diagnosis). */
export type ConfigCheck = 'config' | 'issuer' | 'discovery' | 'audience' | 'claim_validation' | 'claim_mapping' | 'user_validation';

export interface ConfigProblem {
  /** As the apiserver names it: `jwt[0].claimMappings.username.prefix`. */
  readonly path: string;
  readonly message: string;
  readonly check: ConfigCheck;
}

export interface PrefixedClaimOrExpression {
  readonly claim?: string | undefined;
  /** undefined = not set (required with a claim); "" = set to no prefix. */
  readonly prefix?: string | undefined;
  readonly expression?: string | undefined;
}

export interface ClaimValidationRule {
  readonly claim?: string | undefined;
  readonly requiredValue?: string | undefined;
  readonly expression?: string | undefined;
  readonly message?: string | undefined;
  readonly compiled?: CompiledExpression | undefined;
}

export interface UserValidationRule {
  readonly expression: string;
  readonly message?: string | undefined;
  readonly compiled?: CompiledExpression | undefined;
}

export interface JwtAuthenticator {
  readonly issuer: {
    readonly url: string;
    readonly discoveryURL?: string | undefined;
    /** PEM; from `--oidc-ca-file` the caller reads the file into it. */
    readonly certificateAuthority?: string | undefined;
    readonly certificateAuthorityFile?: string | undefined;
    readonly audiences: readonly string[];
    readonly audienceMatchPolicy?: string | undefined;
  };
  readonly claimValidationRules: readonly ClaimValidationRule[];
  readonly claimMappings: {
    readonly username: PrefixedClaimOrExpression & { readonly compiled?: CompiledExpression | undefined };
    readonly groups: PrefixedClaimOrExpression & { readonly compiled?: CompiledExpression | undefined };
    readonly uid: { readonly claim?: string | undefined; readonly expression?: string | undefined; readonly compiled?: CompiledExpression | undefined };
    readonly extra: readonly { readonly key: string; readonly valueExpression: string; readonly compiled?: CompiledExpression | undefined }[];
  };
  readonly userValidationRules: readonly UserValidationRule[];
}

export interface AuthenticationConfig {
  /** Where the authenticators came from. */
  readonly source: 'v1' | 'v1beta1' | 'v1alpha1' | 'flags';
  readonly jwt: readonly JwtAuthenticator[];
  /** The algorithms a token may be signed with. */
  readonly signingAlgs: readonly string[];
  /** Empty when the apiserver would accept the configuration. */
  readonly problems: readonly ConfigProblem[];
}

/** Bounds on what is parsed: real configs are a few KiB with a handful of authenticators. */
export const AUTH_CONFIG_LIMITS = { maxBytes: 256 * 1024, maxAuthenticators: 64 } as const;

export class AuthenticationConfigError extends Error {
  override name = 'AuthenticationConfigError';
}

export class Reader {
  readonly problems: ConfigProblem[] = [];

  problem(path: string, message: string, check: ConfigCheck): void {
    this.problems.push({ path, message, check });
  }

  object(value: unknown, path: string, fields: readonly string[], check: ConfigCheck): Obj {
    if (value === undefined || value === null) return {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.problem(path, 'must be an object', check);
      return {};
    }
    for (const key of Object.keys(value)) if (!fields.includes(key)) this.problem(`${path}.${key}`, 'unknown field (the apiserver decodes strictly)', check);
    return value as Obj;
  }

  list(value: unknown, path: string, check: ConfigCheck): unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.problem(path, 'must be a list', check);
      return [];
    }
    return value;
  }

  string(value: unknown, path: string, check: ConfigCheck): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') {
      this.problem(path, 'must be a string', check);
      return undefined;
    }
    return value;
  }
}
