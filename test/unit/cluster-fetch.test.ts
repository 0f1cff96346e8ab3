/**
 * The fetches a cluster diagnosis makes, with canned responses: redirects followed as Go's
 * http.Client follows them (at most 10), and the diagnose page's guard (https only, no private
 * or loopback hosts unless the broker itself is on loopback), applied to every hop.
 */
import { describe, expect, it } from 'vitest';
import { followRedirects } from '../../shared/cluster/follow-redirects.ts';
import { guardedFetch } from '../../shared/cluster/guarded-fetch.ts';
import type { FetchLike } from '../../shared/http/fetch-capped.ts';

function canned(routes: Record<string, () => Response>): FetchLike & { seen: string[] } {
  const seen: string[] = [];
  const f = (async (input: string) => {
    seen.push(input);
    const route = routes[input];
    return route ? route() : new Response('missing', { status: 404 });
  }) as FetchLike & { seen: string[] };
  f.seen = seen;
  return f;
}

const redirect = (to: string) => () => new Response(null, { status: 302, headers: { location: to } });

describe('followRedirects', () => {
  it('follows relative and absolute redirects to the document', async () => {
    const base = canned({
      'https://idp.example.com/.well-known/openid-configuration': redirect('/realms/x/.well-known/openid-configuration'),
      'https://idp.example.com/realms/x/.well-known/openid-configuration': redirect('https://cdn.example.com/doc.json'),
      'https://cdn.example.com/doc.json': () => Response.json({ issuer: 'https://idp.example.com' }),
    });
    const res = await followRedirects(base)('https://idp.example.com/.well-known/openid-configuration');
    expect(res.status).toBe(200);
    expect(base.seen).toHaveLength(3);
  });

  it('stops after 10 redirects, as Go does', async () => {
    const base = canned({ 'https://loop.example.com/a': redirect('/a') });
    await expect(followRedirects(base)('https://loop.example.com/a')).rejects.toThrow(/stopped after 10 redirects/);
    expect(base.seen).toHaveLength(11);
  });
});

describe('guardedFetch (the diagnose page)', () => {
  const ok = canned({ 'https://idp.example.com/doc': () => Response.json({}) });

  it('refuses http, loopback, private, link-local and .internal hosts on a public broker', async () => {
    const guarded = guardedFetch(ok, { allowLoopback: false });
    for (const url of ['http://idp.example.com/doc', 'https://127.0.0.1/doc', 'https://10.0.0.8/doc', 'https://169.254.169.254/latest', 'https://192.168.1.1/', 'https://[::1]/', 'https://metadata.google.internal/', 'https://localhost/']) {
      await expect(guarded(url), url).rejects.toThrow(/refused/);
    }
    expect((await guarded('https://idp.example.com/doc')).status).toBe(200);
  });

  it('guards every hop of a redirect', async () => {
    const base = canned({ 'https://idp.example.com/doc': redirect('https://169.254.169.254/latest/meta-data') });
    await expect(followRedirects(guardedFetch(base, { allowLoopback: false }))('https://idp.example.com/doc')).rejects.toThrow(/refused: 169\.254\.169\.254/);
    expect(base.seen).toEqual(['https://idp.example.com/doc']);
  });

  it('allows loopback (and only loopback) when the broker itself runs on loopback', async () => {
    const base = canned({ 'https://127.0.0.1:8443/doc': () => Response.json({}) });
    const guarded = guardedFetch(base, { allowLoopback: true });
    expect((await guarded('https://127.0.0.1:8443/doc')).status).toBe(200);
    await expect(guarded('https://10.0.0.8/doc')).rejects.toThrow(/refused/);
  });
});
