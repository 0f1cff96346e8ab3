/**
 * The on-disk cache behind `--format exec-credential`: kubectl runs its credential plugin before
 * every request, and an exchange per kubectl call would be slow and flood the audit trail. One
 * file per (broker, audience, scope, namespace, ttl, subject token, actor token), named by the
 * SHA-256 of those (tokens enter only as their own SHA-256), mode 0600 in a 0700 directory:
 * $XDG_CACHE_HOME/argo-sts, else ~/.cache/argo-sts. A credential is reused until shortly before
 * it expires (client/credential-cache.ts refreshAt); an unreadable or foreign file is a miss.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type Credential, refreshAt } from '../../client/index.ts';

export function cacheDirectory(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(env.HOME || homedir(), '.cache');
  return join(base, 'argo-sts');
}

function isCredential(value: unknown): value is Credential {
  const c = value as Partial<Credential> | null;
  return typeof c === 'object' && c !== null && typeof c.accessToken === 'string' && typeof c.expiresAt === 'number' &&
    typeof c.expiresIn === 'number' && typeof c.namespace === 'string' && Array.isArray(c.scopes);
}

export class CredentialFileCache {
  readonly #dir: string;
  readonly #clock: () => number;

  constructor(dir: string, clock: () => number = Date.now) {
    this.#dir = dir;
    this.#clock = clock;
  }

  path(key: string): string {
    return join(this.#dir, `${key}.json`);
  }

  /** The cached credential while it is fresh, else undefined. */
  async read(key: string): Promise<Credential | undefined> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(this.path(key), 'utf8'));
    } catch {
      return undefined;
    }
    if (!isCredential(parsed) || this.#clock() >= refreshAt(parsed)) return undefined;
    return parsed;
  }

  /** Writes atomically (temp file + rename), owner-only. */
  async write(key: string, credential: Credential): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await chmod(this.#dir, 0o700);
    const temp = `${this.path(key)}.${crypto.randomUUID()}.tmp`;
    await writeFile(temp, JSON.stringify(credential), { mode: 0o600 });
    await rename(temp, this.path(key));
  }
}
