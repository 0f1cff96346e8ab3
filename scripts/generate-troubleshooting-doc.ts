/**
 * Writes docs/troubleshooting.md from the check catalogue (shared/diagnose/catalogue.ts) and the
 * cluster catalogue (shared/cluster/cluster-catalogue.ts) with the transcript of
 * cli/commands/diagnose-cluster.ts, so the document says exactly what
 * /diagnose, its page, `argo-sts diagnose` and `argo-sts diagnose --cluster` say.
 *   npm run docs:troubleshooting            regenerate
 *   npm run docs:troubleshooting -- --check exit 1 when the committed file is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CHECK_CATALOGUE, type CheckEntry, type HintFacts, WIRE_CHECK_CATALOGUE } from '../shared/diagnose/catalogue.ts';
import type { WireCheck } from '../shared/errors.ts';
import { wireErrorFor } from '../shared/errors.ts';
import { renderClusterTroubleshootingSection } from '../shared/cluster/cluster-catalogue.ts';
import { CLUSTER_TRANSCRIPT } from '../cli/commands/diagnose-cluster.ts';

/** The Markdown of docs/troubleshooting.md. */
export function renderTroubleshootingDoc(): string {
  const out: string[] = [
    '# Troubleshooting: why a token is refused',
    '',
    '<!-- Generated from shared/diagnose/catalogue.ts by `npm run docs:troubleshooting`. Do not edit by hand. -->',
    '',
    'When `POST /token` refuses, its `error_description` names the failing check and its `check` field',
    'carries the check id below. `POST /diagnose` with the same parameters (or the page at',
    '`GET /diagnose`, or `argo-sts diagnose`) runs every check and shows, for each, the status, the',
    "token's values, the measured numbers and the hint listed here. Expected values, near-miss hints",
    'and the policy trace are shown under `diagnose.reveal`: `verified` (the default) shows them only',
    "when the token's signature verifies against a configured issuer's keys, `full` always, `basic` never.",
    '',
    'Checks run in this order; `/token` reports the first failure.',
    '',
    '| check | verifies |',
    '|---|---|',
    ...CHECK_CATALOGUE.map((entry) => `| [\`${entry.id}\`](#${entry.id}) | ${entry.verifies} |`),
    '',
    "`/token`'s `check` can also be one of these, which are not about the token and which",
    '`/diagnose` shows no check for (a malformed parameter is one of its `request_problems`):',
    '',
    '| check | what |',
    '|---|---|',
    ...WIRE_CHECK_CATALOGUE.map((entry) => `| [\`${entry.id}\`](#${entry.id}) | ${entry.verifies} |`),
    '',
  ];
  const entries: readonly CheckEntry<WireCheck>[] = [...CHECK_CATALOGUE, ...WIRE_CHECK_CATALOGUE];
  for (const entry of entries) {
    out.push(`## ${entry.id}`, '', `**${entry.title}.** ${entry.verifies}`, '');
    for (const c of entry.causes) {
      const refusal = c.codes.map((code) => `\`${wireErrorFor(code)}\` (\`${code}\`)`).join(', ');
      out.push(`### ${c.id}`, '', `*${c.title}.*${refusal ? ` /token refuses with ${refusal}.` : ''}`, '');
      if (c.message) out.push(`/diagnose says, for example: "${c.message(PLACEHOLDERS)}"`, '');
      out.push(c.hint({}), '');
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}

const PLACEHOLDERS: HintFacts = { seconds: 95, leeway: 60, at: '<claim time>', serverTime: '<server time>' };

/** The whole document: the broker's checks, then the cluster's (with the transcript README and --help show). */
export function troubleshootingDoc(): string {
  return `${renderTroubleshootingDoc()}\n${renderClusterTroubleshootingSection(CLUSTER_TRANSCRIPT)}`;
}

export const TROUBLESHOOTING_DOC = fileURLToPath(new URL('../docs/troubleshooting.md', import.meta.url));

if (import.meta.main) {
  const wanted = troubleshootingDoc();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(TROUBLESHOOTING_DOC, 'utf8');
    } catch {
      // missing: stale
    }
    if (current !== wanted) {
      process.stderr.write('docs/troubleshooting.md is stale: run npm run docs:troubleshooting\n');
      process.exit(1);
    }
  } else {
    writeFileSync(TROUBLESHOOTING_DOC, wanted);
    process.stderr.write('wrote docs/troubleshooting.md\n');
  }
}
