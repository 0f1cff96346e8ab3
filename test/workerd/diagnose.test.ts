/** POST /diagnose and its page in real workerd: the same core, the Workers runtime. */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { signSubject } from './signed-subject.ts';

type Check = { check: string; status: string; seconds?: number; leeway_seconds?: number; expected?: unknown; cause?: string };

describe('/diagnose in workerd', () => {
  it('names a token issued 10 min in the future as failing issued_at, with the skew and the leeway', async () => {
    const token = await signSubject({ iat: Math.floor(Date.now() / 1000) + 600 });
    const res = await SELF.fetch('https://sts.workers.test/diagnose', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ subject_token: token, audience: 'argo-prod' }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { verdict: string; disclosure: string; checks: Check[] };
    expect(body.verdict).toBe('deny');
    expect(body.disclosure).toBe('full');
    const failing = body.checks.filter((c) => c.status === 'fail');
    expect(failing.map((c) => c.check)).toEqual(['issued_at']);
    expect(failing[0]).toMatchObject({ leeway_seconds: 60, cause: 'issued_at.future' });
    expect(failing[0]!.seconds).toBeGreaterThan(590);
    expect(body.checks.find((c) => c.check === 'audience')?.expected).toEqual(['argo-sts']);
  });

  it('serves the page with a nonce-based Content-Security-Policy', async () => {
    const res = await SELF.fetch('https://sts.workers.test/diagnose');
    expect(res.status).toBe(200);
    const nonce = /script-src 'nonce-([^']+)'/.exec(res.headers.get('content-security-policy') ?? '')?.[1];
    expect(nonce).toBeTruthy();
    expect(await res.text()).toContain(`<script nonce="${nonce}">`);
  });
});
