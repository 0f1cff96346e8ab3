/**
 * The request body on Node, read from the IncomingMessage that @hono/node-server hands over
 * (c.env.incoming). Reading c.req.raw's body instead makes the adapter build an undici Request and
 * a web ReadableStream for every request — per exchange CPU and garbage the HTTP floor measures.
 */
import type { Context } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import { type BodyChunks, DRAIN_MAX_BYTES } from '../../shared/exchange/token-request.ts';

/** A request header as node:http parsed it (lower-case name); c.req.header would build undici Headers for it. */
export function incomingHeader(c: Context, name: string): string | undefined {
  const value = (c.env as HttpBindings | undefined)?.incoming?.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

export function incomingBody(c: Context): BodyChunks | undefined {
  const incoming = (c.env as HttpBindings | undefined)?.incoming;
  // Only while nothing has read it: a body already consumed through c.req.raw stays there.
  if (!incoming || incoming.readableEnded || incoming.readableDidRead) return undefined;
  const chunks = incoming[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  return {
    declaredLength: incoming.headers['content-length'],
    next: async () => {
      const { done, value } = await chunks.next();
      return done ? undefined : value;
    },
    // Drained, up to a bound, before the refusal is answered: @hono/node-server drains for
    // 500 ms only, then closes, and a client still uploading (8 MiB on a busy machine) loses
    // the 400 to the reset.
    cancel: async () => {
      try {
        for (let drained = 0; drained <= DRAIN_MAX_BYTES;) {
          const { done, value } = await chunks.next();
          if (done) return;
          drained += value.byteLength;
        }
        await chunks.return?.();
      } catch {
        // The client went away: nothing left to answer.
      }
    },
  };
}
