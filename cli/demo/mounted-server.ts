/**
 * An HTTP server on a free loopback port that serves one handler below a mount path, for issuers
 * with a path (Keycloak's /realms/<name>). It listens first, so the issuer URL is known before the
 * handler (an oidc-provider built for that issuer) exists; until `mount` every request gets 404,
 * as does any request outside the mount path.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface MountedServer {
  /** `http://127.0.0.1:<port><mountPath>`. */
  readonly url: string;
  /** Serves `handler` below the mount path from now on. */
  mount(handler: Handler): void;
  /** Drops open connections and stops listening. */
  close(): Promise<void>;
}

export async function listenMounted(mountPath: string): Promise<MountedServer> {
  let handle: Handler | undefined;
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (!handle || (url !== mountPath && !url.startsWith(`${mountPath}/`))) {
      res.writeHead(404).end();
      return;
    }
    // Mount the way connect/express do: the handler sees the path below the mount point and
    // derives its absolute URLs (jwks_uri, token_endpoint) from originalUrl.
    Object.assign(req, { originalUrl: url });
    req.url = url.slice(mountPath.length) || '/';
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${mountPath}`,
    mount: (handler) => {
      handle = handler;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
