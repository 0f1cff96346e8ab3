/** Dispatch: `argo-sts <command> [flags]`, with help generated from the command definitions. */
import { ConfigError } from '../shared/config/parse-config.ts';
import { type CliIo, type Command, EXIT, UsageError } from './command.ts';
import { COMMANDS } from './commands/index.ts';
import { packageVersion } from './version.ts';

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `argo-sts: a security token service for Argo Workflows and Kubernetes

Usage: argo-sts <command> [flags]      argo-sts <command> --help      argo-sts --version

Commands:
${lines.join('\n')}
`;
}

function findCommand(args: string[]): { command: Command; rest: string[] } | undefined {
  for (const words of [2, 1]) {
    const name = args.slice(0, words).join(' ');
    const command = COMMANDS.find((c) => c.name === name);
    if (command) return { command, rest: args.slice(words) };
  }
  return undefined;
}

export async function runCli(args: string[], io: CliIo): Promise<number> {
  if (args.length === 0 || args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
    const topic = args[0] === 'help' ? findCommand(args.slice(1)) : undefined;
    io.stdout(topic ? `${topic.command.help}\n` : usage());
    return args.length === 0 ? EXIT.usage : EXIT.ok;
  }
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    io.stdout(`${packageVersion()}\n`);
    return EXIT.ok;
  }
  const found = findCommand(args);
  if (!found) {
    io.stderr(`argo-sts: unknown command "${args.join(' ')}"\n\n${usage()}`);
    return EXIT.usage;
  }
  const { command, rest } = found;
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(`${command.help}\n`);
    return EXIT.ok;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`argo-sts ${command.name}: ${err.message}\n\n${command.help}\n`);
      return EXIT.usage;
    }
    if (err instanceof ConfigError) {
      io.stderr(`argo-sts ${command.name}: ${err.message}\n`);
      return EXIT.usage;
    }
    io.stderr(`argo-sts ${command.name}: ${err instanceof Error ? err.message : 'failed'}\n`);
    return EXIT.failed;
  }
}
