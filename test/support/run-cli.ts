/**
 * The argo-sts CLI run in the test process, as cli/argo-sts.ts runs it, but with exactly the env
 * given (nothing from process.env), a fixed stdin, and stdout and stderr captured as text.
 */
import { runCli } from '../../cli/main.ts';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function runCliCaptured(args: string[], options: { env?: Record<string, string>; stdin?: string } = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env: { ...options.env },
    stdin: async () => options.stdin ?? '',
  });
  return { code, stdout, stderr };
}
