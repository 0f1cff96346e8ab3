/** Secret references on Node: `env:NAME` from the process environment, `file:PATH` from disk. */
import { readFile } from 'node:fs/promises';

export function nodeSecretResolver(env: NodeJS.ProcessEnv): (ref: string) => Promise<string> {
  return async (ref) => {
    if (ref.startsWith('env:')) {
      const name = ref.slice(4);
      const value = env[name];
      if (value === undefined || value === '') throw new Error(`secret ${ref}: environment variable ${name} is not set`);
      return value;
    }
    if (ref.startsWith('file:')) {
      const path = ref.slice(5);
      try {
        return await readFile(path, 'utf8');
      } catch (err) {
        throw new Error(`secret ${ref}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
    }
    throw new Error(`secret ${ref}: this reference kind is not available in this build`);
  };
}
