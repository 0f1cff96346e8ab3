/** The legacy `--oidc-*` kube-apiserver flags, turned into the one authenticator the apiserver builds from them. */
import { type AuthenticationConfig, type JwtAuthenticator, KUBE_SIGNING_ALGS, Reader } from './kube-authn-model.ts';
import { compileAndValidate } from './validate-authentication-config.ts';

export const OIDC_FLAGS = ['issuer-url', 'client-id', 'username-claim', 'username-prefix', 'groups-claim', 'groups-prefix', 'ca-file', 'required-claim', 'signing-algs'] as const;

/** `--oidc-issuer-url=https://...` or `--oidc-issuer-url https://...`, one per line or in a command line. */
export function parseOidcFlags(text: string): AuthenticationConfig {
  const words = [...text.matchAll(/"([^"]*)"|'([^']*)'|([^\s"']+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!).filter((w) => w !== '-');
  const values = new Map<string, string[]>();
  const r = new Reader();
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!.replace(/^[\[,]+|[\],]+$/g, '');
    const flag = /^--oidc-([a-z-]+)(?:=(.*))?$/.exec(word);
    if (!flag) continue;
    const name = flag[1]!;
    let value = flag[2];
    if (value === undefined) {
      const next = words[i + 1];
      if (next === undefined || next.startsWith('--')) {
        r.problem(`--oidc-${name}`, 'flag needs a value', 'config');
        continue;
      }
      value = next;
      i++;
    }
    if (!(OIDC_FLAGS as readonly string[]).includes(name)) {
      r.problem(`--oidc-${name}`, 'unknown flag: kube-apiserver refuses to start', 'config');
      continue;
    }
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  const one = (name: string) => values.get(name)?.at(-1);
  const issuerUrl = one('issuer-url') ?? '';
  const clientId = one('client-id') ?? '';
  if (!issuerUrl || !clientId) r.problem('--oidc-issuer-url', 'oidc-issuer-url and oidc-client-id must be specified together when any oidc-* flags are set', 'config');
  const usernameClaim = one('username-claim') ?? 'sub';
  let usernamePrefix = one('username-prefix') ?? '';
  if (usernamePrefix === '' && usernameClaim !== 'email') usernamePrefix = `${issuerUrl}#`;
  if (usernamePrefix === '-') usernamePrefix = '';
  const groupsClaim = one('groups-claim');
  const requiredClaims = new Map<string, string>();
  for (const raw of values.get('required-claim') ?? []) {
    for (const pair of raw.split(',')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) r.problem('--oidc-required-claim', `${JSON.stringify(pair)} is not key=value`, 'claim_validation');
      else requiredClaims.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  }
  const signingAlgs = (one('signing-algs') ?? 'RS256').split(',').map((s) => s.trim()).filter(Boolean);
  for (const alg of signingAlgs) if (!(KUBE_SIGNING_ALGS as readonly string[]).includes(alg)) r.problem('--oidc-signing-algs', `oidc: unsupported signing alg: ${JSON.stringify(alg)}`, 'config');
  const authenticator: JwtAuthenticator = {
    issuer: { url: issuerUrl, audiences: clientId ? [clientId] : [], certificateAuthorityFile: one('ca-file') },
    claimValidationRules: [...requiredClaims].map(([claim, requiredValue]) => ({ claim, requiredValue })),
    claimMappings: {
      username: { claim: usernameClaim, prefix: usernamePrefix },
      groups: groupsClaim ? { claim: groupsClaim, prefix: one('groups-prefix') ?? '' } : {},
      uid: {},
      extra: [],
    },
    userValidationRules: [],
  };
  const jwt = issuerUrl && clientId ? [compileAndValidate(r, authenticator, 'jwt[0]')] : [];
  return { source: 'flags', jwt, signingAlgs, problems: r.problems };
}
