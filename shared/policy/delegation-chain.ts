/**
 * Delegation chains (RFC 8693 §4.1 `act`, §4.4 `may_act`), pure.
 *
 * A subject token that already carries `act` was itself delegated: its chain is kept, nested
 * under the new actor (`act: { sub: <new actor>, act: <the subject token's act> }`), and with no
 * actor token the minted token keeps the subject token's `act`. Only `sub` and `iss` of each link
 * are kept: nothing else of the subject token reaches the credential. Those links are what the
 * subject token's issuer asserted; a policy that must not serve delegated subject tokens binds
 * `act_depth` (e.g. `condition: 'claims.act_depth == 0'`). A policy's
 * `delegation.max_chain` (default 1) bounds the number of actors in the minted chain.
 *
 * Policies see the subject token's chain as two derived claims: `act_chain` (the actors' `sub`,
 * the current actor first) and `act_depth` (their number, 0 when the token is not delegated).
 *
 * `may_act` in the subject token, when present, names who may act for it: every claim it lists
 * (`sub`, `iss`, ...) must equal the actor token's, compared as strings.
 */
import type { Claims } from '../verify/claims.ts';

/** One link of a chain, as minted: the actor, and whom it acted after. */
export interface ActorClaim {
  readonly sub: string;
  readonly iss?: string;
  readonly act?: ActorClaim;
}

/** Past this, a chain is not a delegation but an attack on the parser and the log. */
export const MAX_CHAIN_LINKS = 8;
export const DEFAULT_MAX_CHAIN = 1;

/** The derived claims policies match on; a token that carries them itself is refused. */
export const CHAIN_CLAIMS = ['act_chain', 'act_depth'] as const;

export type ChainReading = { readonly act?: ActorClaim; readonly subs: readonly string[] } | { readonly problem: string };

/** The subject token's own `act`, validated and reduced to `sub`/`iss` per link. */
export function readChain(claims: Claims): ChainReading {
  if (CHAIN_CLAIMS.some((name) => Object.hasOwn(claims, name))) return { problem: 'the token carries act_chain or act_depth, which the broker derives from act' };
  if (!Object.hasOwn(claims, 'act')) return { subs: [] };
  const subs: string[] = [];
  const links: { sub: string; iss?: string }[] = [];
  let node: unknown = claims.act;
  while (node !== undefined) {
    if (!node || typeof node !== 'object' || Array.isArray(node)) return { problem: 'act is not an object' };
    const link = node as Record<string, unknown>;
    if (typeof link.sub !== 'string' || link.sub === '') return { problem: 'a link of act has no sub' };
    if (link.iss !== undefined && typeof link.iss !== 'string') return { problem: 'a link of act has a non-string iss' };
    if (subs.length === MAX_CHAIN_LINKS) return { problem: `act nests more than ${MAX_CHAIN_LINKS} actors` };
    subs.push(link.sub);
    links.push(link.iss === undefined ? { sub: link.sub } : { sub: link.sub, iss: link.iss });
    node = link.act;
  }
  let act: ActorClaim | undefined;
  for (let i = links.length - 1; i >= 0; i--) act = act ? { ...links[i]!, act } : links[i]!;
  return { act, subs };
}

/** The claims policies see: the verified claims plus `act_chain` and `act_depth`. */
export function withChainClaims(claims: Claims, subs: readonly string[]): Claims {
  return { ...claims, act_chain: [...subs], act_depth: subs.length };
}

/** The chain of the minted token: the new actor over the subject token's chain. */
export function mintedChain(newActor: string | undefined, subjectAct: ActorClaim | undefined): ActorClaim | undefined {
  if (newActor === undefined) return subjectAct;
  return subjectAct ? { sub: newActor, act: subjectAct } : { sub: newActor };
}

/** Every link's `sub`, the current actor first. */
export function chainMembers(act: ActorClaim | undefined): string[] {
  const out: string[] = [];
  for (let link = act; link; link = link.act) out.push(link.sub);
  return out;
}

/**
 * Whether `may_act` (when the subject token has one) allows the actor: undefined when allowed,
 * else why not. A `may_act` that is not an object allows nobody.
 */
export function mayActProblem(subject: Claims, actor: Claims): string | undefined {
  if (!Object.hasOwn(subject, 'may_act')) return undefined;
  const mayAct = subject.may_act;
  if (!mayAct || typeof mayAct !== 'object' || Array.isArray(mayAct) || Object.keys(mayAct).length === 0) {
    return 'the subject token has a may_act claim that names nobody';
  }
  for (const [name, expected] of Object.entries(mayAct as Record<string, unknown>)) {
    const actual = actor[name];
    const scalar = (v: unknown) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
    if (!scalar(expected) || !scalar(actual) || String(expected) !== String(actual)) {
      return `the subject token's may_act does not name this actor (${name})`;
    }
  }
  return undefined;
}
