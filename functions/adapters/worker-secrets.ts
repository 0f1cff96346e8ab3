/** Secret references on Workers: `env:NAME` from the Worker's vars and secrets. No filesystem here. */
export function workerSecretResolver(env: Readonly<Record<string, unknown>>): (ref: string) => Promise<string> {
  return async (ref) => {
    if (ref.startsWith('env:')) {
      const name = ref.slice(4);
      const value = env[name];
      if (typeof value !== 'string' || value === '') throw new Error(`secret ${ref}: Worker secret or var ${name} is not set`);
      return value;
    }
    if (ref.startsWith('file:')) throw new Error(`secret ${ref}: file: references are not available on Workers; use a Worker secret (env:NAME)`);
    throw new Error(`secret ${ref}: this reference kind is not available in this build`);
  };
}
