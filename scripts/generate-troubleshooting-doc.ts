/**
 * Writes docs/troubleshooting.md from the check catalogue (shared/check-catalogue.ts) and the
 * cluster catalogue (shared/cluster/cluster-catalogue.ts), so the document says exactly what
 * /diagnose, its page, `argo-sts diagnose` and `argo-sts diagnose --cluster` say.
 *   npm run docs:troubleshooting            regenerate
 *   npm run docs:troubleshooting -- --check exit 1 when the committed file is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderTroubleshootingDoc } from '../shared/check-catalogue.ts';
import { renderClusterTroubleshootingSection } from '../shared/cluster/cluster-catalogue.ts';

export const TROUBLESHOOTING_DOC = fileURLToPath(new URL('../docs/troubleshooting.md', import.meta.url));

/** The whole document: the broker's checks, then the cluster's. */
export function troubleshootingDoc(): string {
  return `${renderTroubleshootingDoc()}\n${renderClusterTroubleshootingSection()}`;
}

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
