/** Flag parsing for commands, on node:util parseArgs: unknown flags and stray arguments are usage errors. */
import { parseArgs } from 'node:util';
import { UsageError } from './command.ts';

type Spec = Record<string, 'string' | 'boolean' | 'strings'>;
type Parsed<S extends Spec> = {
  [K in keyof S]?: S[K] extends 'boolean' ? boolean : S[K] extends 'strings' ? string[] : string;
} & { _: string[] };

export function parseFlags<S extends Spec>(args: string[], spec: S, options: { positionals?: number } = {}): Parsed<S> {
  const parseSpec: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [name, type] of Object.entries(spec)) {
    parseSpec[name] = type === 'strings' ? { type: 'string', multiple: true } : { type };
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options: parseSpec, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const max = options.positionals ?? 0;
  if (parsed.positionals.length > max) throw new UsageError(`unexpected argument: ${parsed.positionals[max]}`);
  return { ...(parsed.values as object), _: parsed.positionals } as Parsed<S>;
}
