/**
 * The cluster section of the /diagnose page in Chromium (playwright-core), against the real app on
 * 127.0.0.1 and an https loopback issuer: a person pastes a token and an AuthenticationConfiguration
 * and reads the same verdict, checks and user as `argo-sts diagnose --cluster`.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { launchChromium, serveOnLoopback } from '../support/browser.ts';
import { signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims } from '../support/loopback-idp.ts';
import { type HttpsIssuer, oneIssuerConfig, pageBrokerConfig, startHttpsIssuer } from '../support/https-issuer.ts';

const NOW = 1_790_000_000;
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));

let idp: HttpsIssuer;
let h: Harness;
let served: Awaited<ReturnType<typeof serveOnLoopback>> | undefined;
let base: string;
let browser: Browser;

const authConfig = () => oneIssuerConfig(idp, { rules: '      - expression: "claims.exp - claims.iat <= 600"\n        message: at most 10 minutes' });

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  idp = await startHttpsIssuer({ path: '/realms/platform' });
  h = await buildHarness(pageBrokerConfig('http://127.0.0.1/sts'), { now: NOW, env: await signingKeysEnv() });
  served = await serveOnLoopback(h.app.fetch);
  base = served.base;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
  await idp?.close();
});

async function diagnose(page: Page, token: string): Promise<Record<string, string>> {
  await page.fill('#cluster_token', token);
  await page.fill('#authentication_config', authConfig());
  // The answer to this submission, not the checks a previous one left on the page.
  await Promise.all([page.waitForResponse((r) => r.url().endsWith('/diagnose/cluster')), page.click('#cluster-submit')]);
  // The page re-enables the button once it has rendered the answer.
  await page.waitForFunction(() => !(document.getElementById('cluster-submit') as HTMLButtonElement).disabled);
  await page.waitForSelector('#cluster-checks li');
  return page.$$eval('#cluster-checks li', (items) => Object.fromEntries(items.map((li) => [li.getAttribute('data-check'), li.getAttribute('data-status')])));
}

describe('the cluster section of the /diagnose page in Chromium', () => {
  it('shows an authenticated token with the user the cluster sees, and a refused one with its failing rule and fix', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1600 } });
    const requests: { url: string; method: string }[] = [];
    const console: string[] = [];
    page.on('request', (r) => requests.push({ url: r.url(), method: r.method() }));
    page.on('console', (m) => console.push(m.text()));
    page.on('pageerror', (e) => console.push(`pageerror: ${e.message}`));
    expect((await page.goto(`${base}/diagnose`))?.status()).toBe(200);

    const ok = await diagnose(page, await idp.sign(fixtureClaims('keycloak-access-token', NOW, { iss: idp.issuer, aud: 'kubernetes' })));
    expect(Object.values(ok).every((s) => s === 'pass')).toBe(true);
    expect(await page.textContent('#cluster-verdict')).toContain('would authenticate');
    expect(await page.textContent('#cluster-user dd[data-field="username"]')).toBe('oidc:alice');
    expect(await page.textContent('#cluster-user dd[data-field="groups"]')).toBe('oidc:platform-engineers, oidc:argo-users, system:authenticated');

    const refused = await diagnose(page, await idp.sign(fixtureClaims('keycloak-access-token', NOW, { iss: idp.issuer, aud: 'kubernetes', exp: NOW + 3600 })));
    expect(refused.claim_validation).toBe('fail');
    expect(await page.textContent('#cluster-verdict')).toContain('would refuse');
    const row = page.locator('#cluster-checks li[data-check="claim_validation"]');
    expect(await row.textContent()).toContain('at most 10 minutes');
    expect(await row.locator('.hint code').count()).toBeGreaterThan(0);
    await page.screenshot({ path: `${ARTIFACTS}diagnose-cluster.png`, fullPage: true });

    expect(requests.every((r) => r.url.startsWith(base))).toBe(true);
    expect(requests.filter((r) => r.method === 'POST').map((r) => r.url)).toEqual([`${base}/diagnose/cluster`, `${base}/diagnose/cluster`]);
    expect(console.filter((m) => /Content Security Policy|pageerror/.test(m))).toEqual([]);
    await page.close();
  });
});
