/**
 * A loopback stand-in for the GitHub Actions runtime's OIDC token endpoint, faithful to GitHub's
 * wire behaviour: GET $ACTIONS_ID_TOKEN_REQUEST_URL (a URL with `api-version=2.0`) plus
 * `&audience=AUD`, authorized by `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`; 401
 * without the right request token; the answer is `{"count": 1, "value": "<jwt>"}` where the JWT's
 * `aud` is the requested audience (default: the repository owner's URL, as GitHub does).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ActionsTokenEndpoint {
  /** The job's environment: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN. */
  readonly env: { ACTIONS_ID_TOKEN_REQUEST_URL: string; ACTIONS_ID_TOKEN_REQUEST_TOKEN: string };
  /** Every request seen: its Authorization header and requested audience. */
  readonly requests: { authorization: string | undefined; audience: string | null }[];
  close(): Promise<void>;
}

const PATH = '/_apis/distributedtask/hubs/build/plans/demo-plan/jobs/demo-job/idtoken';

/** `sign(audience)` makes the job's token for that audience (the issuer's signer). */
export async function startActionsTokenEndpoint(sign: (audience: string) => Promise<string>, owner = 'acme'): Promise<ActionsTokenEndpoint> {
  const requestToken = `ghs_${crypto.randomUUID().replace(/-/g, '')}`;
  const requests: ActionsTokenEndpoint['requests'] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const audience = url.searchParams.get('audience');
    requests.push({ authorization: req.headers.authorization, audience });
    if (req.method !== 'GET' || url.pathname !== PATH || url.searchParams.get('api-version') !== '2.0') {
      res.writeHead(404).end();
      return;
    }
    if (req.headers.authorization !== `bearer ${requestToken}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"Bad credentials"}');
      return;
    }
    sign(audience ?? `https://github.com/${owner}`).then(
      (value) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: 1, value })),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    env: { ACTIONS_ID_TOKEN_REQUEST_URL: `${base}${PATH}?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken },
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
