/**
 * The claims of a token as decoded from its payload: what verification checks, presets normalize
 * and policies match. Plain data; nothing here is trusted until verification says so.
 */
export type Claims = Readonly<Record<string, unknown>>;
