/**
 * The shape of a CLI command: its name (one or two words), a summary and usage for `--help`, and
 * a `run` that returns the process exit code. Commands write results to stdout and messages to
 * stderr; they never print a token unless printing it is the command's purpose.
 */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly stdin: () => Promise<string>;
  /**
   * Makes stdout owner-only (0600) when it is a regular file, i.e. a `> file` redirect, before a
   * command writes a secret to it. Absent when stdout is not the process's own (tests).
   */
  readonly restrictStdout?: () => void;
}

export interface Command {
  /** e.g. "serve", "config check", "keys generate". */
  readonly name: string;
  readonly summary: string;
  /** Full help text: usage line, flags, examples. */
  readonly help: string;
  run(args: string[], io: CliIo): Promise<number>;
}

/** Exit codes: 0 ok, 1 the operation failed (refused, unreachable), 2 usage or configuration error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export class UsageError extends Error {
  override name = 'UsageError';
}
