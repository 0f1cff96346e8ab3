/**
 * `argo-sts approve <id>` / `argo-sts deny <id>`: an approver's decision on a pending approval,
 * proven by the approver's own IdP token (the same token sources as `argo-sts exchange`).
 */
import { decideApproval, StsRequestError, StsTransportError } from '../../client/index.ts';
import { type Command, EXIT, UsageError } from '../command.ts';
import { resolveSubjectToken } from '../exchange/token-source.ts';
import { parseFlags } from '../flags.ts';
import { USER_AGENT } from './exchange.ts';

const FLAGS = { broker: 'string', 'token-env': 'string', 'token-file': 'string', 'token-audience': 'string' } as const;

function decisionCommand(decision: 'approve' | 'deny'): Command {
  return {
    name: decision,
    summary: `${decision} a pending credential request (an approval link's id) with your own identity token`,
    help: `Usage: argo-sts ${decision} APPROVAL_ID --broker URL [--token-env NAME | --token-file PATH|-]

${decision === 'approve' ? 'Approves' : 'Denies'} the request behind an approval link (https://BROKER/approvals/APPROVAL_ID): POST
/approvals/APPROVAL_ID with decision=${decision} and your own IdP token, which must match an approver
of the request's policy. You cannot ${decision} your own request. Read the request first at the link.

  --broker URL            the broker (default: $ARGO_STS_URL)
  --token-env NAME, --token-file PATH|-, $ARGO_STS_SUBJECT_TOKEN   your token, as for argo-sts exchange

Exit status: 0 recorded; 1 refused or unreachable; 2 usage error.`,
    async run(args, io) {
      const flags = parseFlags(args, FLAGS, { positionals: 1 });
      const id = flags._[0];
      if (!id) throw new UsageError('the approval id is required');
      const broker = flags.broker ?? io.env.ARGO_STS_URL;
      if (!broker) throw new UsageError('--broker URL (or ARGO_STS_URL) is required');
      const token = await resolveSubjectToken({ tokenEnv: flags['token-env'], tokenFile: flags['token-file'], tokenAudience: flags['token-audience'] ?? 'argo-sts' }, io);
      try {
        const result = await decideApproval({ broker, userAgent: USER_AGENT }, id, decision, token.token);
        io.stdout(`${result.approval_id}: ${result.status}\n`);
        return EXIT.ok;
      } catch (err) {
        if (err instanceof StsRequestError) {
          io.stderr(`argo-sts: refused: ${err.error}${err.errorDescription ? `: ${err.errorDescription}` : ''}${err.requestId ? ` (request_id ${err.requestId})` : ''}\n`);
          return EXIT.failed;
        }
        if (err instanceof StsTransportError) {
          io.stderr(`argo-sts: ${err.message}\n`);
          return EXIT.failed;
        }
        throw err;
      }
    },
  };
}

export const approveCommand = decisionCommand('approve');
export const denyCommand = decisionCommand('deny');
