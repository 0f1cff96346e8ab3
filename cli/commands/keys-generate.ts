import { writeFileSync } from 'node:fs';
import { SIGNING_ALGORITHMS, type SigningAlgorithm } from '../../shared/config/schema.ts';
import { generatePrivateJwks } from '../../shared/keys/signing-keys.ts';
import { type Command, EXIT, UsageError } from '../command.ts';
import { parseFlags } from '../flags.ts';

export const keysGenerate: Command = {
  name: 'keys generate',
  summary: 'print a new private JWK Set for signing.keys',
  help: `Usage: argo-sts keys generate [--alg ES256] [--out FILE]

Prints a private JWK Set (one key, with kid = its RFC 7638 thumbprint) on stdout. Store it as a
secret (ARGO_STS_SIGNING_KEYS, a file, or AWS Secrets Manager) and point signing.keys at it.
To rotate, stage the new set AWSPENDING, then AWSCURRENT: see docs/key-rotation.md.
A file it writes is owner-only (0600): with --out, or through a \`> file\` redirect, which it
makes 0600 before writing (the shell created the file with your umask a moment earlier, so
--out, or \`umask 077\` first, leaves no moment at all).
  --alg ALG   ${SIGNING_ALGORITHMS.join(', ')} (default ES256)
  --out FILE  write the set to FILE, created 0600; an existing FILE is refused, never overwritten`,
  async run(args, io) {
    const flags = parseFlags(args, { alg: 'string', out: 'string' });
    const alg = (flags.alg ?? 'ES256') as SigningAlgorithm;
    if (!SIGNING_ALGORITHMS.includes(alg)) throw new UsageError(`--alg must be one of ${SIGNING_ALGORITHMS.join(', ')}`);
    const text = `${JSON.stringify(await generatePrivateJwks(alg), null, 2)}\n`;
    if (flags.out !== undefined) {
      try {
        writeFileSync(flags.out, text, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        io.stderr(`argo-sts keys generate: ${code === 'EEXIST' ? `${flags.out} exists; refusing to overwrite a key file` : `cannot write ${flags.out} (${code ?? 'error'})`}\n`);
        return EXIT.failed;
      }
      return EXIT.ok;
    }
    io.restrictStdout?.();
    io.stdout(text);
    return EXIT.ok;
  },
};
