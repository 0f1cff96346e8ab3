#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
/** The `argo-sts` command (bin/argo-sts.js runs it, or its build in lib/). Inside a clone: `npx argo-sts` after `npm ci`. */
import { fchmodSync, fstatSync } from 'node:fs';
import { runCli } from './main.ts';

const code = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  restrictStdout: () => {
    try {
      if (fstatSync(1).isFile()) fchmodSync(1, 0o600);
    } catch {
      // not ours to change (another owner's file): the command still writes, as the shell asked
    }
  },
  env: process.env,
  stdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
});
process.exitCode = code;
