/**
 * What Argo Workflows makes of the identity in a minted token, derived exactly as Argo does it
 * (argo-workflows server/auth/serviceaccount/claims.go and workflow/creator/creator.go, read at
 * v4.1.2; see docs/argo.md):
 *
 * - the payload is decoded with Go's base64.RawStdEncoding: the standard alphabet, no padding, so
 *   a `-` or `_` anywhere is a decode error, the claims are dropped and the creator labels with them;
 * - encoding/json reads `sub`, `email`, `preferred_username`; a lone UTF-16 surrogate escape
 *   becomes U+FFFD;
 * - a `sub` of four or more `:`-separated parts is split (SplitN, 4) into a ServiceAccount
 *   namespace (third part) and name (the rest);
 * - each label value is "DNS friendly": every rune outside [-_.a-zA-Z0-9] becomes `-`, the last
 *   63 characters are kept, then leading and trailing non-alphanumerics are trimmed; the email's
 *   first `@` becomes `.at.` first.
 *
 * Thousands of generated claim sets are minted by the real mintToken and read back that way.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateSigningKeys, type SigningKeys } from '../../shared/keys/signing-keys.ts';
import { mintToken } from '../../shared/targets/mint-token.ts';

// ---- Argo's reading of a bearer token, modelled on the Go code named above ----

class GoDecodeError extends Error {}

/** Go's encoding/json turns a lone surrogate escape (\\ud800) into U+FFFD. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const goString = (s: string) => s.replace(LONE_SURROGATE, '\ufffd');

/** Go's base64.RawStdEncoding.DecodeString (non-strict: CR and LF are skipped, spare bits ignored). */
function rawStdDecode(text: string): Uint8Array {
  const data = text.replace(/[\r\n]/g, '');
  if (/[^A-Za-z0-9+/]/.test(data)) throw new GoDecodeError('illegal base64 data');
  if (data.length % 4 === 1) throw new GoDecodeError('illegal base64 data at the end');
  return new Uint8Array(Buffer.from(data, 'base64'));
}

interface ArgoClaims {
  readonly sub: string;
  readonly email: string;
  readonly preferredUsername: string;
  readonly serviceAccountNamespace: string;
  readonly serviceAccountName: string;
}

/** ClaimSetWithBearerToken: undefined where Argo gets an error (and then sets no creator labels). */
function argoClaimSet(bearer: string): ArgoClaims | undefined {
  const parts = bearer.split('.');
  if (parts.length < 3) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8').decode(rawStdDecode(parts[1]!)));
  } catch {
    return undefined;
  }
  const claims = json as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' ? goString(v) : '');
  const sub = text(claims.sub);
  const split = goSplitN(sub, ':', 4);
  return {
    sub,
    email: text(claims.email),
    preferredUsername: text(claims.preferred_username),
    serviceAccountNamespace: split.length < 4 ? '' : split[2]!,
    serviceAccountName: split.length < 4 ? '' : split[3]!,
  };
}

function goSplitN(s: string, sep: string, n: number): string[] {
  const out: string[] = [];
  let rest = s;
  while (out.length < n - 1) {
    const i = rest.indexOf(sep);
    if (i < 0) break;
    out.push(rest.slice(0, i));
    rest = rest.slice(i + sep.length);
  }
  out.push(rest);
  return out;
}

/** creator.go's dnsFriendly: per rune (Go regexp works on runes), then bytes (all ASCII by then). */
function dnsFriendly(s: string): string {
  let value = Array.from(s, (rune) => (/^[-_.a-zA-Z0-9]$/.test(rune) ? rune : '-')).join('');
  if (value.length > 63) value = value.slice(value.length - 63);
  return value.replace(/^[^a-zA-Z0-9]*/, '').replace(/[^a-zA-Z0-9]*$/, '');
}

/** The labels LabelCreator sets (absent where the claim is empty or the claims could not be read). */
function creatorLabels(claims: ArgoClaims | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (!claims) return labels;
  if (claims.sub) labels['workflows.argoproj.io/creator'] = dnsFriendly(claims.sub);
  if (claims.email) labels['workflows.argoproj.io/creator-email'] = dnsFriendly(claims.email.replace('@', '.at.'));
  if (claims.preferredUsername) labels['workflows.argoproj.io/creator-preferred-username'] = dnsFriendly(claims.preferredUsername);
  return labels;
}

// ---- Minting, as the exchange does ----

let keys: SigningKeys | undefined;
async function mint(identity: { idp: string; sub: string; email?: string | undefined; preferredUsername?: string | undefined }): Promise<string> {
  keys ??= await generateSigningKeys('ES256');
  const minted = await mintToken(keys, {
    issuer: 'https://sts.example.com',
    audience: 'kubernetes',
    subject: `${identity.idp}:${identity.sub}`,
    now: 1_800_000_000,
    ttl: 600,
    jti: crypto.randomUUID(),
    namespace: 'ci',
    scopes: ['argo:submit'],
    groups: ['argo-sts:ci:argo:submit'],
    preferredUsername: identity.preferredUsername,
    email: identity.email,
  });
  return minted.token;
}

// ---- Generators: real-shaped subjects, and hostile text ----

const idpName = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?$/);
const slug = fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9._-]{0,38}[A-Za-z0-9])?$/);
const refName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,40}$/);
/** GitHub Actions subjects (docs.github.com: "Example subject claims"). */
const githubSub = fc.tuple(slug, slug, fc.oneof(
  refName.map((b) => `ref:refs/heads/${b}`),
  refName.map((t) => `ref:refs/tags/${t}`),
  slug.map((e) => `environment:${e}`),
  fc.constant('pull_request'),
)).map(([owner, repo, rest]) => ({ repository: `${owner}/${repo}`, sub: `repo:${owner}/${repo}:${rest}` }));
/** GitLab CI subjects: project_path:{group}/{project}:ref_type:{type}:ref:{ref}. */
const gitlabSub = fc.tuple(fc.array(slug, { minLength: 1, maxLength: 3 }), slug, fc.constantFrom('branch', 'tag'), refName)
  .map(([groups, project, type, ref]) => ({ repository: `${groups.join('/')}/${project}`, sub: `project_path:${groups.join('/')}/${project}:ref_type:${type}:ref:${ref}` }));
/** Anything a subject token could carry, including what base64url turns into - and _. */
const hostileText = fc.string({ unit: fc.oneof(
  fc.constantFrom('>', '?', '~', '\u007f', ':', '/', '@', '"', '\\', '\u00e9', '\u2028', '\ud83d\ude80', '\ud800'),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
), minLength: 1, maxLength: 60 });
const email = fc.tuple(fc.stringMatching(/^[a-z0-9][a-z0-9.+_-]{0,20}$/), fc.domain()).map(([local, domain]) => `${local}@${domain}`);
const username = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9._-]{0,30}$/), hostileText);

const RUNS = { numRuns: 2000 } as const;

describe('Argo reads minted identity exactly as minted', () => {
  it('decodes every minted payload with the standard alphabet, and reads sub, email and preferred_username unchanged', async () => {
    await fc.assert(fc.asyncProperty(
      idpName, hostileText, fc.option(hostileText, { nil: undefined }), fc.option(username, { nil: undefined }),
      async (idp, sub, mail, preferredUsername) => {
        const token = await mint({ idp, sub, email: mail, preferredUsername });
        const claims = argoClaimSet(token);
        expect(claims, 'Argo could not decode the payload').toBeDefined();
        expect(claims!.sub).toBe(goString(`${idp}:${sub}`));
        expect(claims!.email).toBe(mail === undefined ? '' : goString(mail));
        expect(claims!.preferredUsername).toBe(preferredUsername === undefined ? '' : goString(preferredUsername));
        expect(creatorLabels(claims)).toEqual(creatorLabels({
          sub: goString(`${idp}:${sub}`), email: mail === undefined ? '' : goString(mail), preferredUsername: preferredUsername === undefined ? '' : goString(preferredUsername),
          serviceAccountName: '', serviceAccountNamespace: '',
        }));
      },
    ), RUNS);
  });

  it('labels a GitHub or GitLab pipeline with its idp and repository whenever the sanitized subject fits in 63 characters', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(
      githubSub.map((s) => ({ idp: 'github', ...s })),
      gitlabSub.map((s) => ({ idp: 'gitlab', ...s })),
    ), async ({ idp, sub, repository }) => {
      const full = `${idp}:${sub}`;
      const label = creatorLabels(argoClaimSet(await mint({ idp, sub })))['workflows.argoproj.io/creator'];
      const sanitized = full.replace(/[^-_.a-zA-Z0-9]/g, '-');
      if (sanitized.length <= 63) {
        expect(label).toBe(sanitized.replace(/[^a-zA-Z0-9]*$/, ''));
        expect(label!.startsWith(`${idp}-`)).toBe(true);
        expect(label).toContain(repository.replace(/\//g, '-'));
      } else {
        // Argo keeps the tail: the idp prefix goes first, then the owner (docs/argo.md).
        expect(label).toBe(dnsFriendly(full));
        expect(label!.length).toBeLessThanOrEqual(63);
        expect(sanitized.endsWith(label!) || sanitized.replace(/[^a-zA-Z0-9]*$/, '').endsWith(label!)).toBe(true);
      }
    }), RUNS);
  });

  it('labels a person with their verified email and preferred_username', async () => {
    await fc.assert(fc.asyncProperty(idpName, fc.uuid(), email, fc.stringMatching(/^[a-z][a-z0-9._-]{0,30}[a-z0-9]$/), async (idp, sub, mail, user) => {
      const labels = creatorLabels(argoClaimSet(await mint({ idp, sub, email: mail, preferredUsername: user })));
      expect(labels['workflows.argoproj.io/creator-preferred-username']).toBe(user);
      const emailLabel = mail.replace('@', '.at.').replace(/[^-_.a-zA-Z0-9]/g, '-');
      expect(labels['workflows.argoproj.io/creator-email']).toBe(dnsFriendly(emailLabel));
      if (emailLabel.length <= 63) expect(labels['workflows.argoproj.io/creator-email']).toBe(emailLabel.replace(/^[^a-zA-Z0-9]*/, '').replace(/[^a-zA-Z0-9]*$/, ''));
    }), RUNS);
  });
});

describe('what Argo does with the contract\'s <idp>:<subject sub> form (documented in docs/argo.md)', () => {
  it('reads a GitHub subject as ServiceAccount namespace "owner/repo" and name "ref:..." (display only in client auth mode)', async () => {
    const claims = argoClaimSet(await mint({ idp: 'github', sub: 'repo:acme/app:ref:refs/heads/main' }));
    expect(claims).toMatchObject({ serviceAccountNamespace: 'acme/app', serviceAccountName: 'ref:refs/heads/main' });
    const gitlab = argoClaimSet(await mint({ idp: 'gitlab', sub: 'project_path:platform/pipelines:ref_type:branch:ref:main' }));
    expect(gitlab).toMatchObject({ serviceAccountNamespace: 'platform/pipelines', serviceAccountName: 'ref_type:branch:ref:main' });
    const keycloak = argoClaimSet(await mint({ idp: 'keycloak', sub: 'f2b6c1d4-3e5a-4b7c-9d8e-0a1b2c3d4e5f' }));
    expect(keycloak).toMatchObject({ serviceAccountNamespace: '', serviceAccountName: '' });
  });

  it('keeps only the last 63 characters, so a long GitHub subject loses its idp and owner from the creator label', async () => {
    const sub = 'repo:acme-platform-engineering/payments-reconciliation-service:environment:production';
    const labels = creatorLabels(argoClaimSet(await mint({ idp: 'github', sub })));
    expect(labels['workflows.argoproj.io/creator']).toBe('ineering-payments-reconciliation-service-environment-production');
    const other = creatorLabels(argoClaimSet(await mint({ idp: 'github', sub: 'repo:evil-corp-engineering/payments-reconciliation-service:environment:production' })));
    expect(other['workflows.argoproj.io/creator']).toBe(labels['workflows.argoproj.io/creator']);
  });

  it('maps ":" "/" "@" and every non-ASCII rune to "-", so distinct short subjects can share a label', async () => {
    const a = creatorLabels(argoClaimSet(await mint({ idp: 'github', sub: 'repo:acme/app-x:ref:refs/heads/main' })));
    const b = creatorLabels(argoClaimSet(await mint({ idp: 'github', sub: 'repo:acme-app/x:ref:refs/heads/main' })));
    expect(a['workflows.argoproj.io/creator']).toBe('github-repo-acme-app-x-ref-refs-heads-main');
    expect(b).toEqual(a);
  });

  it('would drop every creator label of a payload serialized without escaping (the control: the decoder model can fail)', async () => {
    keys ??= await generateSigningKeys('ES256');
    // "~~~" on a 3-byte boundary encodes as "fn5-" in base64url: a "-" Go's decoder rejects.
    const payloads = [0, 1, 2].map((pad) => JSON.stringify({ sub: `github:${'a'.repeat(pad)}~~~`, email: 'a@b.c' }));
    const encoded = payloads.map((p) => Buffer.from(p).toString('base64url'));
    const broken = encoded.filter((e) => /[-_]/.test(e));
    expect(broken.length).toBeGreaterThan(0);
    for (const payload of broken) expect(argoClaimSet(`e30.${payload}.sig`)).toBeUndefined();
  });
});
