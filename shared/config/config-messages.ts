/**
 * Schema errors in words an operator acts on: a missing key is "required" (not zod's
 * `expected array, received undefined`), an unknown key names the key it most likely meant.
 */
import { z } from 'zod';
import { configSchema } from './schema.ts';

type SchemaIssue = z.core.$ZodIssue;

const LIST_EXAMPLES: Record<string, string> = { audiences: '[argo-sts]', namespaces: '[ci]', scopes: '[argo:read]' };

function valueAt(doc: unknown, path: readonly PropertyKey[]): unknown {
  let value = doc;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** The message for one schema issue (its path is written by the caller). */
export function describeSchemaIssue(issue: SchemaIssue, doc: unknown): string {
  if (issue.code === 'invalid_type' && valueAt(doc, issue.path) === undefined) {
    if (issue.expected !== 'array') return 'required';
    const example = LIST_EXAMPLES[String(issue.path.at(-1))];
    return `required (a list${example ? `, e.g. ${example}` : ''})`;
  }
  return issue.message;
}

let objectShapes: readonly (readonly string[])[] | undefined;

/** The key set of every object the schema describes (idp, target, policy, ...). */
function schemaObjects(): readonly (readonly string[])[] {
  if (objectShapes) return objectShapes;
  const shapes: string[][] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (k === 'properties' && v && typeof v === 'object' && !Array.isArray(v)) shapes.push(Object.keys(v));
      walk(v);
    }
  };
  walk(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }));
  objectShapes = shapes;
  return shapes;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length]!;
}

/**
 * The key an unknown one most likely meant (a typo, a singular for a plural): among the keys of
 * the schema object its siblings fit best, the closest one not already written.
 */
export function closestKey(key: string, doc: unknown, objectPath: readonly PropertyKey[]): string | undefined {
  if (key.length > 64) return undefined;
  const object = valueAt(doc, objectPath);
  const siblings = object && typeof object === 'object' ? Object.keys(object) : [];
  let shape: readonly string[] | undefined;
  let fit = -1;
  for (const candidate of schemaObjects()) {
    const overlap = siblings.filter((s) => candidate.includes(s)).length;
    if (overlap > fit) [shape, fit] = [candidate, overlap];
  }
  const wanted = key.toLowerCase().replace(/-/g, '_');
  let best: { key: string; distance: number } | undefined;
  for (const known of shape ?? []) {
    if (siblings.includes(known)) continue;
    const distance = editDistance(wanted, known);
    if (!best || distance < best.distance) best = { key: known, distance };
  }
  return best && best.distance <= Math.max(1, Math.floor(key.length / 4)) ? best.key : undefined;
}
