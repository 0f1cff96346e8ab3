/**
 * `argo-sts diagnose --cluster` against what the real kube-apiserver does with the same token and
 * the AuthenticationConfiguration it runs: the verdict is "authenticated" exactly when
 * `kubectl auth whoami` succeeds, and the user it maps (username, groups, uid, extra) is the user
 * the apiserver reports. The table of issue #18, on a v1 and on a v1beta1 config: valid, wrong
 * audience, an Entra v1 token against the v2 issuer URL, skewed nbf / iat / exp, a failing CEL
 * claim rule, no username claim, an unverified email as username, a key not in the JWKS; and the
 * (+) rows of claims with other JSON types, which Go decodes differently from JSON.parse.
 *
 * How the configs reach the apiserver: it runs `--authentication-config=` a copy of the file
 * `argo-sts render` wrote (stack.ts; the rendered file itself stays as written). This test starts
 * the table's three https loopback issuers in its own process, with keys it generates
 * (test/support/cluster-table.ts: Keycloak-, Entra-v2- and email-shaped; the Entra one has the
 * real https://login.microsoftonline.com/<tenant>/v2.0 as `issuer.url` and a loopback
 * `issuer.discoveryURL`, so neither the apiserver nor the diagnosis ever contacts Microsoft),
 * appends their authenticators to the rendered one and writes the file as
 * apiserver.config.k8s.io/v1; then, after the v1 table, the same content as v1beta1; at the end
 * the rendered copy again. kube-apiserver 1.37 watches the file (fsnotify, and a poll every
 * minute) and swaps in a changed config only once every new authenticator has its keys; each
 * switch waits until the apiserver's metric
 * `apiserver_authentication_config_controller_last_config_info` carries the sha256 of the bytes
 * written, so each table runs on the config the diagnosis is given, and the v1beta1 one is known
 * to have been decoded and applied by the apiserver. (Reloading, rather than starting a second
 * apiserver on a v1beta1 file, proves both versions on the one stack in about 35 s.)
 *
 * Leeways, from the apiserver's source (k8s.io/apiserver 0.37 oidc authenticator on go-oidc v2.5's
 * IDTokenVerifier): `exp` none (Expiry.Before(now) refuses), `nbf` one minute, `iat` unchecked.
 * The skew rows (test/support/cluster-table.ts) sit well clear of those boundaries (nbf 20 s and 150 s ahead, exp 20 s past and
 * 120 s ahead), so a second or two between the two evaluations cannot flip a row.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument, type YAMLSeq } from 'yaml';
import { expectRow, startTableIssuers, TABLE_ROWS, tableAuthenticators, type TableIssuers } from '../support/cluster-table.ts';
import { adminKubectl, argoSts, ciToken, claimsOf, eventually, extra, removeScratch, stack, TARGETS, tokenKubeconfig, whoami, type WhoAmI } from './support.ts';

const RENDERED = join(extra.kube.rendered, TARGETS.oidc, 'authentication-config.yaml');
const APISERVER_CONFIG = extra.kube.authentication_config;

interface ClusterVerdict {
  verdict: 'authenticated' | 'refused';
  user: { username: string; groups: string[]; uid: string; extra: Record<string, string[]> } | null;
  checks: { check: string; status: string; cause?: string; message: string }[];
  config: { source: string; authenticators: number; problems: unknown[] };
}

let issuers: TableIssuers;

async function diagnoseCluster(token: string): Promise<{ code: number; result: ClusterVerdict }> {
  const r = await argoSts(['diagnose', '--cluster', APISERVER_CONFIG, '--token-env', 'TOKEN_TO_CHECK', '--json'], { TOKEN_TO_CHECK: token });
  return { code: r.code, result: JSON.parse(r.stdout) as ClusterVerdict };
}

async function mint(target: string, extraArgs: string[] = []): Promise<string> {
  const r = await argoSts(['exchange', '--broker', stack.broker.url, '--audience', target, '--namespace', 'ci', '--token-env', 'CI_ID_TOKEN', ...extraArgs], { CI_ID_TOKEN: await ciToken() });
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

/** The diagnosis and the apiserver agree: exit 0 exactly when whoami succeeds, and the same user. */
async function expectAgreement(token: string): Promise<{ diagnosis: ClusterVerdict; user: WhoAmI | undefined }> {
  const [{ code, result }, { user }] = await Promise.all([diagnoseCluster(token), whoami(tokenKubeconfig(token))]);
  expect(result.config.problems).toEqual([]);
  expect(code === 0).toBe(user !== undefined);
  expect(result.verdict).toBe(user ? 'authenticated' : 'refused');
  if (user) {
    expect(result.user!.username).toBe(user.username ?? '');
    expect([...result.user!.groups].sort()).toEqual([...user.groups].sort());
    expect(result.user!.uid).toBe(user.uid ?? '');
    expect(result.user!.extra).toEqual(user.extra ?? {});
  }
  return { diagnosis: result, user };
}

async function expectAuthenticated(token: string): Promise<{ diagnosis: ClusterVerdict; user: WhoAmI }> {
  const { diagnosis, user } = await expectAgreement(token);
  expect(diagnosis.verdict).toBe('authenticated');
  return { diagnosis, user: user! };
}

/** Both refuse; the diagnosis names the check and the cause. */
async function expectRefusedAt(token: string, check: string, cause: string): Promise<ClusterVerdict> {
  const { diagnosis } = await expectAgreement(token);
  expect(diagnosis.verdict).toBe('refused');
  expect(diagnosis.checks.find((c) => c.check === check)).toMatchObject({ status: 'fail', cause });
  return diagnosis;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

// --- the apiserver's config file --------------------------------------------------------------

/** The rendered config with the table's authenticators appended, as `version`. */
function tableOnRendered(version: 'v1' | 'v1beta1'): string {
  const doc = parseDocument(readFileSync(RENDERED, 'utf8'));
  doc.set('apiVersion', `apiserver.config.k8s.io/${version}`);
  const added = parseDocument(`jwt:\n${tableAuthenticators(issuers)}`).get('jwt') as YAMLSeq;
  (doc.get('jwt') as YAMLSeq).items.push(...added.items);
  return doc.toString();
}

/** The hash of the config the apiserver applied last, from its metrics. */
async function appliedConfigHash(): Promise<string | undefined> {
  const r = await adminKubectl(['get', '--raw', '/metrics']);
  return /^apiserver_authentication_config_controller_last_config_info\{(?:[^}]*,)?hash="([^"]+)"/m.exec(r.stdout)?.[1];
}

/** Replaces the file the apiserver runs (atomically) and waits until the apiserver has applied it. */
async function serveAuthenticationConfig(text: string): Promise<void> {
  const hash = `sha256:${createHash('sha256').update(text).digest('hex')}`;
  writeFileSync(`${APISERVER_CONFIG}.next`, text);
  renameSync(`${APISERVER_CONFIG}.next`, APISERVER_CONFIG);
  const applied = await eventually(appliedConfigHash, (h) => h === hash, 150_000, 2000);
  if (applied !== hash) {
    const log = readFileSync(extra.kube.log, 'utf8').split('\n').filter((l) => /authentication config|oidc/i.test(l)).slice(-8).join('\n');
    throw new Error(`kube-apiserver did not apply ${APISERVER_CONFIG} (${hash}) within 150 s; it runs ${applied}. Its log:\n${log}`);
  }
}

beforeAll(async () => {
  const good = await mint(TARGETS.oidc);
  await eventually(() => whoami(tokenKubeconfig(good)), (r) => r.user !== undefined, 90_000, 2000);
  issuers = await startTableIssuers();
}, 120_000);

afterAll(async () => {
  try {
    await serveAuthenticationConfig(readFileSync(RENDERED, 'utf8'));
  } finally {
    await issuers?.close();
    removeScratch();
  }
}, 180_000);

for (const version of ['v1', 'v1beta1'] as const) {
  describe(`argo-sts diagnose --cluster agrees with the real kube-apiserver on an AuthenticationConfiguration ${version}`, () => {
    beforeAll(() => serveAuthenticationConfig(tableOnRendered(version)), 180_000);

    it('reads the config the apiserver runs: the rendered authenticator and the table\'s three', async () => {
      const { result } = await diagnoseCluster(await mint(TARGETS.oidc));
      expect(result.config).toEqual({ source: version, authenticators: 4, problems: [] });
    });

    // Tokens the broker mints, on the rendered authenticator.

    it('on (1) a valid minted credential: authenticated, with the username, groups and extra whoami shows', async () => {
      const good = await mint(TARGETS.oidc);
      const { user } = await expectAuthenticated(good);
      expect(user.username).toBe(`argo-sts:${claimsOf(good).sub}`);
    });

    it('on (2) a minted credential for another audience: refused at the audience check', async () => {
      await expectRefusedAt(await mint(TARGETS.otherAudience), 'audience', 'cluster.audience.mismatch');
    });

    it('on (4) a minted credential that expired 2 s ago: refused at the expiry check', async () => {
      const token = await mint(TARGETS.oidc, ['--ttl', '2s']);
      await new Promise((r) => setTimeout(r, 4000));
      await expectRefusedAt(token, 'expiry', 'cluster.expiry.expired');
    });

    it('on (8) a token signed by a key the broker never published: refused at the signature check', async () => {
      const good = await mint(TARGETS.oidc);
      const { privateKey } = await generateKeyPair('ES256');
      const forged = await new SignJWT({ ...claimsOf(good) }).setProtectedHeader({ alg: 'ES256', kid: `${decodeProtectedHeader(good).kid}-other`, typ: 'JWT' }).sign(privateKey);
      await expectRefusedAt(forged, 'signature', 'cluster.signature.kid-unknown');
    });

    // The table's issuers, on the authenticators appended for this test.
    for (const r of TABLE_ROWS) {
      it(`on ${r.row}: ${r.verdict}${r.check?.cause ? ` (${r.check.cause})` : ''}`, async () => {
        const { diagnosis } = await expectAgreement(await r.token(issuers, nowSeconds()));
        expectRow(r, diagnosis, issuers);
      });
    }
  });
}
