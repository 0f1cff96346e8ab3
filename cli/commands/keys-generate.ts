import { SIGNING_ALGORITHMS, type SigningAlgorithm } from '../../shared/config/schema.ts';
import { generatePrivateJwks } from '../../shared/keys/signing-keys.ts';
import { type Command, EXIT, UsageError } from '../command.ts';
import { parseFlags } from '../flags.ts';

export const keysGenerate: Command = {
  name: 'keys generate',
  summary: 'print a new private JWK Set for signing.keys',
  help: `Usage: argo-sts keys generate [--alg ES256]

Prints a private JWK Set (one key, with kid = its RFC 7638 thumbprint) on stdout. Store it as a
secret (ARGO_STS_SIGNING_KEYS, a file, or AWS Secrets Manager) and point signing.keys at it.
To rotate, stage the new set AWSPENDING, then AWSCURRENT: see docs/key-rotation.md.
  --alg ALG   ${SIGNING_ALGORITHMS.join(', ')} (default ES256)`,
  async run(args, io) {
    const flags = parseFlags(args, { alg: 'string' });
    const alg = (flags.alg ?? 'ES256') as SigningAlgorithm;
    if (!SIGNING_ALGORITHMS.includes(alg)) throw new UsageError(`--alg must be one of ${SIGNING_ALGORITHMS.join(', ')}`);
    io.stdout(`${JSON.stringify(await generatePrivateJwks(alg), null, 2)}\n`);
    return EXIT.ok;
  },
};
