/**
 * The /diagnose page in a real browser: Debian's Chromium driven by playwright-core, against
 * the real app served on 127.0.0.1 with a loopback IdP. A person pastes a token, submits, and
 * reads the checks. Screenshots land in test/browser/artifacts/ (kept out of git).
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { launchChromium, serveOnLoopback } from '../support/browser.ts';
import { signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const NOW = 1_790_000_000;
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));

let github: LoopbackIdp;
let h: Harness;
let served: Awaited<ReturnType<typeof serveOnLoopback>> | undefined;
let base: string;
let browser: Browser;

const claims = (overrides: Record<string, unknown> = {}) => fixtureClaims('github-actions', NOW, { iss: github.issuer, ...overrides });

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  github = await startLoopbackIdp();
  h = await buildHarness(`
issuer: https://sts.test.example
signing: { alg: ES256, keys: env:SIGNING_KEYS }
diagnose: { reveal: full }
idps:
  - { name: github, issuer: "${github.issuer}", audiences: [argo-sts], preset: github-actions }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes, argo_server: https://argo.example.com }
policies:
  - id: ci-main
    idp: github
    target: argo-prod
    subject: repo:acme/app:ref:refs/heads/main
    claims: { repository_owner: acme }
    namespaces: [ci]
    scopes: [argo:submit, argo:read]
`, { now: NOW, env: await signingKeysEnv() });
  served = await serveOnLoopback(h.app.fetch);
  base = served.base;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
  await github?.close();
});

interface Session {
  readonly page: Page;
  /** Every request the page made, and every console message (CSP violations show there). */
  readonly requests: { url: string; method: string; body: string | null }[];
  readonly console: string[];
}

async function openPage(viewport = { width: 1100, height: 1400 }): Promise<Session> {
  const page = await browser.newPage({ viewport });
  const session: Session = { page, requests: [], console: [] };
  page.on('request', (r) => session.requests.push({ url: r.url(), method: r.method(), body: r.postData() }));
  page.on('console', (m) => session.console.push(m.text()));
  page.on('pageerror', (e) => session.console.push(`pageerror: ${e.message}`));
  const res = await page.goto(`${base}/diagnose`);
  expect(res?.status()).toBe(200);
  return session;
}

async function submit(page: Page, token: string, fields: Record<string, string> = {}): Promise<void> {
  await page.fill('#subject_token', token);
  for (const [name, value] of Object.entries(fields)) await page.fill(`#${name}`, value);
  await page.click('#submit');
  await page.waitForSelector('#checks li');
}

/** A screenshot with the token fields emptied first: no token lands in an artifact. */
async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  await page.fill('#subject_token', '');
  await page.fill('#actor_token', '');
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage });
}

async function statuses(page: Page): Promise<Record<string, string>> {
  return page.$$eval('#checks li', (items) => Object.fromEntries(items.map((li) => [li.getAttribute('data-check'), li.getAttribute('data-status')])));
}

describe('the /diagnose page in Chromium', () => {
  it('renders a token issued 95 s in the future as a failing issued_at check with the numbers and the hint', async () => {
    const { page, requests, console } = await openPage();
    await submit(page, await github.sign(claims({ iat: NOW + 95 })), { audience: 'argo-prod' });

    expect(await page.textContent('#verdict')).toContain('would refuse');
    expect(await page.textContent('#verdict')).toContain('failing: issued_at');
    const all = await statuses(page);
    expect(Object.keys(all)).toEqual(['format', 'issuer', 'signature', 'audience', 'expiry', 'not_before', 'issued_at', 'policy', 'target', 'namespace', 'scope']);
    expect(Object.entries(all).filter(([, s]) => s === 'fail').map(([c]) => c)).toEqual(['issued_at']);
    const row = page.locator('#checks li[data-check="issued_at"]');
    expect(await row.locator('.mark').textContent()).toBe('\u2717');
    const text = await row.textContent();
    expect(text).toContain('issued 95 s in the future');
    expect(text).toContain('leeway 60 s');
    expect(await row.locator('.hint').textContent()).toMatch(/NTP/);
    // Times read as a duration and a date, not as epoch seconds.
    expect(text).toContain('1 min 35 s in the future');
    expect(text).toContain(new Date((NOW + 95) * 1000).toISOString().replace('.000Z', 'Z'));
    expect(text).not.toContain(String(NOW + 95));
    expect(await page.textContent('#token')).not.toMatch(/\b1790\d{6}\b/);
    expect(await row.locator('.hint code').count()).toBeGreaterThan(0);
    expect(await page.textContent('#meta')).toContain(new Date(NOW * 1000).toISOString());
    await shot(page, 'diagnose-issued-at', true);

    // The token went only to this broker, in a POST body, never in a URL.
    expect(requests.every((r) => r.url.startsWith(base))).toBe(true);
    const posts = requests.filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(1);
    expect(posts[0]!.url).toBe(`${base}/diagnose`);
    expect(posts[0]!.body).toContain('"subject_token":"eyJ');
    expect(requests.some((r) => r.url.includes('eyJ'))).toBe(false);
    // The page's own script and styles run under its CSP without a single violation.
    expect(console.filter((m) => /Content Security Policy|pageerror/.test(m))).toEqual([]);
    await page.close();
  });

  it('renders a good token as issuable, with the Argo client-mode hint', async () => {
    const { page } = await openPage();
    await submit(page, await github.sign(claims()), { audience: 'argo-prod', scope: 'argo:read' });
    expect(await page.textContent('#verdict')).toContain('would issue');
    expect(Object.values(await statuses(page)).every((s) => s === 'pass')).toBe(true);
    // A passing check's advice is a note, not a fix-styled hint box.
    expect(await page.locator('#checks li.pass .hint').count()).toBe(0);
    expect(await page.locator('#checks li[data-check="target"] .note').textContent()).toContain('--auth-mode=client');
    // The configured disclosure mode, beside what this answer disclosed.
    expect(await page.textContent('#meta')).toContain('diagnose.reveal: full');
    await shot(page, 'diagnose-issue', true);
    await page.close();
  });

  it('shows the policy trace for a genuine token outside every policy', async () => {
    const { page } = await openPage();
    await submit(page, await github.sign(claims({ sub: 'repo:acme/app:ref:refs/heads/dev' })), { audience: 'argo-prod' });
    const row = page.locator('#checks li[data-check="policy"]');
    expect(await row.getAttribute('data-status')).toBe('fail');
    const cells = await row.locator('table').first().locator('td').allTextContents();
    expect(cells).toEqual(['subject', 'repo:acme/app:ref:refs/heads/main', 'repo:acme/app:ref:refs/heads/dev']);
    await row.locator('details summary').click();
    expect(await row.locator('details').textContent()).toContain('ci-main does not match the identity');
    await shot(page, 'diagnose-policy', true);
    await page.close();
  });

  it('renders markup inside a token as text, never as HTML', async () => {
    const { page, console } = await openPage();
    const hostile = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>';
    await submit(page, await github.sign(claims({ sub: hostile, aud: hostile })), { audience: 'argo-prod' });
    expect(await page.locator('#checks img, #token img, #checks script').count()).toBe(0);
    expect(await page.title()).not.toBe('pwned');
    expect(await page.locator('#checks li[data-check="audience"]').textContent()).toContain('<img src=x');
    expect(console.filter((m) => /pageerror/.test(m))).toEqual([]);
    await page.close();
  });

  it('takes the actor token, and a delegation no rule allows is refused with the policy check named', async () => {
    const { page, requests } = await openPage();
    await page.fill('#actor_token', await github.sign(claims({ sub: 'agent-9' })));
    await submit(page, await github.sign(claims()), { audience: 'argo-prod' });
    expect(await page.textContent('#verdict')).toContain('failing: policy');
    expect(await page.locator('#checks li[data-check="policy"]').getAttribute('data-status')).toBe('fail');
    const body = JSON.parse(requests.find((r) => r.method === 'POST')!.body!) as Record<string, string>;
    expect(body.actor_token_type).toBe('urn:ietf:params:oauth:token-type:access_token');
    await page.close();
  });

  it('fits a 390 px wide phone screen without sideways scrolling', async () => {
    const { page } = await openPage({ width: 390, height: 844 });
    await submit(page, await github.sign(claims({ sub: 'repo:acme/app:ref:refs/heads/dev', iat: NOW + 95 })), { audience: 'argo-prod' });
    await page.locator('#checks li[data-check="policy"] details summary').click();
    const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
    expect(widths.scroll).toBeLessThanOrEqual(widths.client);
    const overflowing = await page.$$eval('#checks li, #form label, table', (nodes) => nodes.filter((n) => n.getBoundingClientRect().right > window.innerWidth + 0.5).length);
    expect(overflowing).toBe(0);
    await shot(page, 'diagnose-phone', true);
    await shot(page, 'diagnose-phone-top');
    await page.locator('#checks li[data-check="issued_at"]').screenshot({ path: `${ARTIFACTS}diagnose-phone-issued-at.png` });
    await page.locator('#checks li[data-check="policy"]').screenshot({ path: `${ARTIFACTS}diagnose-phone-policy.png` });
    await page.close();
  });
});
