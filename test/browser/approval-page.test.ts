/**
 * The /approvals/<id> page in a real browser (Debian's Chromium, playwright-core), against the
 * real app on 127.0.0.1: an approver opens the link, reads who asks for what, for how long and
 * why, pastes their own token and approves; the agent's next poll is issued. Screenshots land in
 * test/browser/artifacts/ (kept out of git).
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { launchChromium, serveOnLoopback } from '../support/browser.ts';
import { signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const NOW = 1_790_000_000;
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
let keycloak: LoopbackIdp;
let h: Harness;
let served: Awaited<ReturnType<typeof serveOnLoopback>> | undefined;
let base: string;
let browser: Browser;

const person = (sub: string, groups: string[]) => fixtureClaims('keycloak-access-token', NOW, { iss: keycloak.issuer, sub, groups });

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  keycloak = await startLoopbackIdp({ path: '/realms/platform' });
  h = await buildHarness(`
issuer: https://sts.test.example
signing: { alg: ES256, keys: env:SIGNING_KEYS }
idps:
  - { name: keycloak, issuer: ${keycloak.issuer}, audiences: [argo-sts], preset: keycloak }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - id: people
    idp: keycloak
    target: argo-prod
    claims: { groups: platform-engineers }
    namespaces: [prod]
    scopes: [argo:read, argo:manage]
    approval: { scopes: [argo:manage], approvers: [{ idp: keycloak, claims: { groups: oncall } }] }
`, { now: NOW, env: await signingKeysEnv() });
  served = await serveOnLoopback(h.app.fetch);
  base = served.base;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
  await keycloak?.close();
});

async function ask(approvalId?: string) {
  const res = await h.exchange({
    audience: 'argo-prod',
    subject_token: await keycloak.sign(person('alice', ['platform-engineers'])),
    scope: 'argo:manage',
    reason: 'terminate <b>wf-42</b> before it fills the disk',
    ...(approvalId && { approval_id: approvalId }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

describe('the approval page in a browser', () => {
  it('shows the request, takes the approver\'s token, records the approval, and the poll is issued', async () => {
    const { body } = await ask();
    const page = await browser.newPage({ viewport: { width: 900, height: 1000 } });
    const console: string[] = [];
    page.on('console', (m) => console.push(m.text()));
    page.on('pageerror', (e) => console.push(`pageerror: ${e.message}`));
    expect((await page.goto(`${base}/approvals/${body.approval_id}`))?.status()).toBe(200);

    expect(await page.textContent('#status')).toBe('pending');
    expect(await page.textContent('#requester')).toBe('keycloak:alice');
    expect(await page.textContent('#scopes')).toBe('argo:manage');
    expect(await page.textContent('#namespace')).toBe('prod');
    expect(await page.textContent('#ttl')).toBe('600 s');
    // The reason is text, never markup.
    expect(await page.textContent('#reason')).toBe('terminate <b>wf-42</b> before it fills the disk');
    expect(await page.locator('#reason b').count()).toBe(0);
    await page.screenshot({ path: `${ARTIFACTS}approval-pending.png`, fullPage: true });

    await page.fill('#token', await keycloak.sign(person('bob', ['oncall'])));
    await page.click('#approve');
    await page.waitForFunction(() => document.getElementById('result')?.textContent !== '');
    expect(await page.textContent('#result')).toBe('Recorded: approved');
    expect(await page.textContent('#status')).toBe('approved');
    expect(await page.isHidden('#decide')).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}approval-approved.png`, fullPage: true });
    expect(console).toEqual([]);
    await page.close();

    expect((await ask(body.approval_id)).status).toBe(200);
  });

  it('shows a refusal when the requester tries to approve their own request', async () => {
    const { body } = await ask();
    const page = await browser.newPage();
    await page.goto(`${base}/approvals/${body.approval_id}`);
    await page.fill('#token', await keycloak.sign(person('alice', ['platform-engineers', 'oncall'])));
    await page.click('#approve');
    await page.waitForFunction(() => document.getElementById('result')?.textContent !== '');
    expect(await page.textContent('#result')).toContain('Refused: access_denied');
    expect(await page.textContent('#status')).toBe('pending');
    await page.close();
  });
});
