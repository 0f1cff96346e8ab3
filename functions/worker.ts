/**
 * The Workers runtime's entry point. The broker is the isolate's (worker/broker-for-env.ts: the
 * config from the ARGO_STS_CONFIG var or secret, built on the first request).
 */
import { brokerForEnv, type WorkerEnv } from './worker/broker-for-env.ts';
import { createApp } from './http/app.ts';

export default createApp({
  broker: async (c) => {
    const broker = await brokerForEnv(c.env as WorkerEnv);
    // A due key refresh runs after the response, inside this request's waitUntil.
    const refresh = broker.signingKeys.maintain?.(Date.now());
    if (refresh) c.executionCtx.waitUntil(refresh);
    return broker;
  },
  clientIp: (c) => c.req.header('cf-connecting-ip'),
  logError: (message, err) => console.error(message, err instanceof Error ? (err.stack ?? err.name) : 'unknown error'),
});
/** The Durable Object class behind the ARGO_STS_COORDINATOR binding (wrangler.toml). */
export { StsCoordinator } from './worker/durable-coordinator.ts';
