/**
 * What the app needs from its runtime, and what every route sees in its context: the seam
 * between functions/http/ (both runtimes) and functions/node/ or functions/worker/.
 */
import type { Context } from 'hono';
import type { Broker } from '../../shared/broker/broker.ts';
import type { BodyChunks } from '../../shared/exchange/token-request.ts';
import type { FetchLike } from '../../shared/http/fetch-capped.ts';

export interface AppRuntime {
  /** The broker for this process or isolate; built once. */
  broker(c: Context): Promise<Broker>;
  /** The client's address as the runtime sees it (not a forwarded header). */
  clientIp(c: Context): string | undefined;
  /** stderr for operators: unexpected errors, never tokens. */
  logError(message: string, err: unknown): void;
  /**
   * The request body as chunks straight from the runtime, when it has a cheaper way than the
   * web Request's stream (Node: the IncomingMessage). Absent: the body is read from c.req.raw.
   */
  requestBody?(c: Context): BodyChunks | undefined;
  /**
   * A request header (lower-case name) straight from the runtime, when it has a cheaper way than
   * the web Request's Headers (Node: the IncomingMessage's parsed headers). Absent: c.req.header.
   */
  requestHeader?(c: Context, name: string): string | undefined;
  /** A fetch trusting a private CA (PEM), where the runtime can (Node); the diagnose page's cluster section uses it. */
  fetchTrustingCa?(caPem: string): FetchLike;
}

export type AppEnv = { Variables: { requestId: string; runtime: AppRuntime } };
