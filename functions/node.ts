/**
 * The Node runtime's entry point: `npm start`. Everything is functions/node/start-server.ts, the
 * same main `argo-sts serve` runs.
 */
import { runServer } from './node/start-server.ts';

if (import.meta.main) {
  // exit, not exitCode: a handle left open by a failed start must not keep the process alive.
  process.exit(await runServer({ env: process.env, stderr: (text) => process.stderr.write(text) }));
}
