/**
 * Writes docs/config.schema.json, the JSON Schema of the config document, from the zod schema the
 * broker parses with (shared/config/schema.ts), so editors validate what the broker accepts.
 *   npm run docs:config-schema            regenerate
 *   npm run docs:config-schema -- --check exit 1 when the committed file is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchema } from '../shared/config/schema.ts';

export const CONFIG_SCHEMA_DOC = fileURLToPath(new URL('../docs/config.schema.json', import.meta.url));

/** The schema of what a person writes: durations as numbers or strings, defaults optional. */
export function renderConfigSchema(): string {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
  const doc = {
    ...schema,
    title: 'argo-sts configuration',
    description: 'The argo-sts config document (YAML or JSON). Generated from shared/config/schema.ts by `npm run docs:config-schema`; README says how editors use it.',
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

if (import.meta.main) {
  const wanted = renderConfigSchema();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(CONFIG_SCHEMA_DOC, 'utf8');
    } catch {
      // missing: stale
    }
    if (current !== wanted) {
      process.stderr.write('docs/config.schema.json is stale: run npm run docs:config-schema\n');
      process.exit(1);
    }
  } else {
    writeFileSync(CONFIG_SCHEMA_DOC, wanted);
    process.stderr.write('wrote docs/config.schema.json\n');
  }
}
