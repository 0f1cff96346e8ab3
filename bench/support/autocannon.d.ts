// autocannon ships no type declarations; the bench uses this much of it.
declare module 'autocannon' {
  interface Instance {
    on(event: 'response', listener: (client: unknown, statusCode: number, bytes: number, responseTime: number) => void): void;
    on(event: 'reqError' | 'done', listener: (...args: unknown[]) => void): void;
    stop(): void;
  }
  export default function autocannon(options: Record<string, unknown>): Instance;
}
