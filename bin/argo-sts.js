#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// The package's `bin`: plain JavaScript, so it starts on any Node the package supports.
// In a clone (cli/argo-sts.ts beside it) it runs the TypeScript sources, which Node 24 strips
// itself: `npx argo-sts` works after `npm ci` with no build step. In an installed tarball,
// which carries no sources, it runs lib/, the JavaScript that `npm run build:js` made from them.
// (The warning flag above hides node:sqlite's "experimental" notice, as the server does.)
import { existsSync } from 'node:fs';

const source = new URL('../cli/argo-sts.ts', import.meta.url);
const entry = existsSync(source) ? source : new URL('../lib/cli/argo-sts.js', import.meta.url);
await import(entry.href);
