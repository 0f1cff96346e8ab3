/**
 * The cluster section of the /diagnose page: paste a token and a kube-apiserver
 * AuthenticationConfiguration (or its --oidc-* flags), read what the apiserver's JWT
 * authenticators would say (POST /diagnose/cluster). Rendered with textContent only, inside the
 * page's script (it reuses its `el`, `rich`, `show` and `MARKS`), under the same CSP.
 */
import { CLUSTER_CATALOGUE } from '../../../shared/cluster/cluster-catalogue.ts';

const CLUSTER_TITLES = Object.fromEntries(CLUSTER_CATALOGUE.map((entry) => [entry.id, entry.title]));

export const CLUSTER_PAGE_CSS = `
h2 { font-size: 1.2rem; margin: 2.5rem 0 .25rem; }
#cluster-form { grid-template-columns: 1fr; }
#authentication_config { min-height: 12rem; word-break: normal; white-space: pre; }
ol#cluster-checks { list-style: none; padding: 0; margin: 0; border: 1px solid var(--line); border-radius: 6px; }
ol#cluster-checks > li { display: grid; grid-template-columns: 1.6rem 9rem 1fr; gap: .5rem; padding: .55rem .75rem; border-top: 1px solid var(--line); }
ol#cluster-checks > li:first-child { border-top: 0; }
#cluster-verdict { margin: 1.25rem 0 .5rem; padding: .6rem .9rem; border-radius: 6px; font-weight: 600; border: 1px solid var(--line); }
#cluster-verdict.authenticated { border-color: var(--ok); color: var(--ok); }
#cluster-verdict.refused { border-color: var(--bad); color: var(--bad); }
#cluster-verdict.error { border-color: var(--warn); color: var(--warn); }
`;

export const CLUSTER_PAGE_HTML = `<h2>Would the cluster accept it?</h2>
<p class="lead">Paste a token and the cluster's kube-apiserver <code>AuthenticationConfiguration</code> (v1 or v1beta1, or its <code>--oidc-*</code> flags). This broker evaluates the token as the apiserver's JWT authenticators would and shows the user the cluster would see. Its only outbound request is the discovery and JWKS fetch for the token's issuer; nothing is stored. The same as <code>argo-sts diagnose --cluster</code>.</p>
<form id="cluster-form" method="post" autocomplete="off" novalidate>
  <label class="wide">token (JWT)<textarea id="cluster_token" name="subject_token" required spellcheck="false" placeholder="eyJhbGciOi…"></textarea></label>
  <label class="wide">AuthenticationConfiguration<textarea id="authentication_config" name="authentication_config" required spellcheck="false" placeholder="apiVersion: apiserver.config.k8s.io/v1&#10;kind: AuthenticationConfiguration&#10;jwt: …"></textarea></label>
  <button id="cluster-submit" type="submit">Diagnose against the cluster</button>
</form>
<section id="cluster-results" hidden aria-live="polite">
  <div id="cluster-verdict"></div>
  <p class="meta" id="cluster-meta"></p>
  <ol id="cluster-checks"></ol>
  <dl id="cluster-user" hidden></dl>
</section>`;

export const CLUSTER_PAGE_SCRIPT = `
const CLUSTER_TITLES = ${JSON.stringify(CLUSTER_TITLES).replace(/</g, '\\u003c')};
function renderCluster(body) {
  const verdict = $('cluster-verdict');
  verdict.className = body.verdict;
  verdict.textContent = body.verdict === 'authenticated'
    ? '\\u2713 kube-apiserver would authenticate this token (' + body.authenticator + ')'
    : '\\u2717 kube-apiserver would refuse this token (401)';
  $('cluster-meta').textContent = 'server time ' + body.server_time + ' \\u00b7 ' + body.config.source + ' \\u00b7 ' + body.config.authenticators + ' JWT authenticator(s)';
  const list = $('cluster-checks');
  list.replaceChildren();
  for (const check of body.checks) {
    const detail = el('div', { class: 'detail' }, el('div', { class: 'message' }, rich(check.message)));
    if (check.rules && check.rules.length) {
      const table = el('table', {}, el('tr', {}, el('th', {}, 'rule'), el('th', {}, 'result')));
      for (const r of check.rules) table.append(el('tr', {}, el('td', {}, r.rule), el('td', {}, r.status + (r.message ? ': ' + r.message : ''))));
      detail.append(table);
    }
    if (check.hint && check.status !== 'pass') detail.append(el('div', { class: 'hint' }, rich(check.hint)));
    list.append(el('li', { class: check.status, 'data-check': check.check, 'data-status': check.status },
      el('span', { class: 'mark', title: check.status }, MARKS[check.status] || '?'),
      el('span', { class: 'name' }, rich(CLUSTER_TITLES[check.check] || check.check), el('small', {}, check.check + ' \\u00b7 ' + check.status)),
      detail));
  }
  const user = body.user || body.mapped_user;
  const dl = $('cluster-user');
  dl.replaceChildren();
  if (user) {
    dl.append(el('dt', {}, body.user ? 'the cluster sees' : 'the mappings give (not authenticated)'), el('dd', {}, ''));
    dl.append(el('dt', {}, 'username'), el('dd', { 'data-field': 'username' }, user.username));
    dl.append(el('dt', {}, 'groups'), el('dd', { 'data-field': 'groups' }, user.groups.join(', ') || '(none)'));
    if (user.uid) dl.append(el('dt', {}, 'uid'), el('dd', {}, user.uid));
    for (const [k, v] of Object.entries(user.extra || {})) dl.append(el('dt', {}, k), el('dd', {}, v.join(', ')));
  }
  dl.hidden = !user;
  $('cluster-results').hidden = false;
}
$('cluster-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('cluster-submit').disabled = true;
  try {
    const res = await fetch(window.location.pathname.replace(/\\/$/, '') + '/cluster', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ subject_token: $('cluster_token').value.trim(), authentication_config: $('authentication_config').value }),
      credentials: 'same-origin',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
    });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error_description || ('the broker answered ' + res.status));
    renderCluster(body);
  } catch (err) {
    $('cluster-results').hidden = false;
    const verdict = $('cluster-verdict');
    verdict.className = 'error';
    verdict.textContent = 'The diagnosis failed: ' + err.message;
    $('cluster-checks').replaceChildren();
    $('cluster-user').hidden = true;
  } finally {
    $('cluster-submit').disabled = false;
  }
});
`;
