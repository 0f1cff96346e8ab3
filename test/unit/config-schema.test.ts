/** docs/config.schema.json is the config schema as the broker parses it: generated, never stale. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_SCHEMA_DOC, renderConfigSchema } from '../../scripts/generate-config-schema.ts';

describe('docs/config.schema.json', () => {
  it('is what scripts/generate-config-schema.ts makes of shared/config/schema.ts (run npm run docs:config-schema)', () => {
    expect(readFileSync(CONFIG_SCHEMA_DOC, 'utf8')).toBe(renderConfigSchema());
  });

  it('requires what the broker requires and refuses unknown keys, as the parser does', () => {
    const schema = JSON.parse(renderConfigSchema()) as { required: string[]; additionalProperties: boolean; properties: Record<string, { items?: { required?: string[] } }> };
    expect(schema.required).toEqual(expect.arrayContaining(['issuer', 'signing', 'idps', 'targets', 'policies']));
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.idps!.items!.required).toEqual(expect.arrayContaining(['name', 'issuer', 'audiences']));
  });

  it('describes durations as a person writes them: seconds or a string such as 10m', () => {
    const schema = JSON.parse(renderConfigSchema()) as { properties: { defaults: { properties: { ttl: { type: string[] } } } } };
    expect(schema.properties.defaults.properties.ttl.type).toEqual(['number', 'string']);
  });
});
