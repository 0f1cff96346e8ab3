/**
 * GET /diagnose: a page for people. Paste a token, read the checks. Everything is inline (no
 * third-party assets) under a strict Content-Security-Policy with a per-response nonce; the
 * token goes only to this broker, in the body of a same-origin POST, never in a URL. Results are
 * rendered with textContent only, so nothing in a token or a config can become markup.
 */
import { CHECK_CATALOGUE } from '../../shared/check-catalogue.ts';
import { CLUSTER_PAGE_CSS, CLUSTER_PAGE_HTML, CLUSTER_PAGE_SCRIPT } from './diagnose-cluster-page.ts';

export function newNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return btoa(String.fromCharCode(...bytes));
}

export function diagnosePageHeaders(nonce: string): Record<string, string> {
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      `style-src 'nonce-${nonce}'`,
      "connect-src 'self'",
      "img-src 'none'",
      "form-action 'self'",
      "base-uri 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Cross-Origin-Opener-Policy': 'same-origin',
  };
}

/** JSON safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

const TITLES = Object.fromEntries(CHECK_CATALOGUE.map((entry) => [entry.id, entry.title]));

const CSS = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --skip: #6e7781; --line: #d0d7de; --bg2: #f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --line: #30363d; --bg2: #161b22; --ok: #3fb950; --bad: #f85149; --warn: #d29922; --skip: #8b949e; } }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 60rem; padding: 1.5rem; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
p.lead { margin: 0 0 1rem; color: var(--skip); }
form { display: grid; gap: .6rem; grid-template-columns: repeat(4, 1fr); }
label { display: grid; gap: .2rem; font-size: .85rem; font-weight: 600; }
label.wide { grid-column: 1 / -1; }
textarea, input { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; padding: .45rem; border: 1px solid var(--line); border-radius: 6px; background: var(--bg2); color: inherit; width: 100%; }
textarea { min-height: 7rem; resize: vertical; word-break: break-all; }
button { grid-column: 1 / -1; justify-self: start; font: inherit; font-weight: 600; padding: .45rem 1.2rem; border-radius: 6px; border: 1px solid var(--line); cursor: pointer; background: #0969da; color: #fff; }
#verdict { margin: 1.25rem 0 .5rem; padding: .6rem .9rem; border-radius: 6px; font-weight: 600; border: 1px solid var(--line); }
#verdict.issue { border-color: var(--ok); color: var(--ok); }
#verdict.deny { border-color: var(--bad); color: var(--bad); }
#verdict.error { border-color: var(--warn); color: var(--warn); }
.meta { font-size: .8rem; color: var(--skip); margin: 0 0 .75rem; }
ol#checks { list-style: none; padding: 0; margin: 0; border: 1px solid var(--line); border-radius: 6px; }
ol#checks > li { display: grid; grid-template-columns: 1.6rem 9rem 1fr; gap: .5rem; padding: .55rem .75rem; border-top: 1px solid var(--line); }
ol#checks > li:first-child { border-top: 0; }
.mark { font-weight: 700; text-align: center; }
li.pass .mark { color: var(--ok); } li.fail .mark { color: var(--bad); } li.warn .mark { color: var(--warn); } li.skip .mark { color: var(--skip); }
li.skip { color: var(--skip); }
.name { font-weight: 600; }
.name small { display: block; font-weight: 400; color: var(--skip); font-family: ui-monospace, monospace; font-size: .75rem; }
.detail { display: grid; gap: .3rem; min-width: 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .75rem; margin: 0; font-size: .85rem; }
dt { color: var(--skip); } dd { margin: 0; font-family: ui-monospace, monospace; word-break: break-all; }
.hint { font-size: .88rem; padding: .35rem .6rem; border-left: 3px solid var(--warn); background: var(--bg2); border-radius: 0 4px 4px 0; }
code { font-family: ui-monospace, monospace; font-size: .85em; background: var(--bg2); padding: 0 .2em; border-radius: 3px; }
table { border-collapse: collapse; font-size: .82rem; width: 100%; }
th, td { text-align: left; border-bottom: 1px solid var(--line); padding: .2rem .4rem; vertical-align: top; font-family: ui-monospace, monospace; word-break: break-all; }
th { font-family: inherit; color: var(--skip); font-weight: 600; }
details summary { cursor: pointer; font-size: .85rem; color: var(--skip); }
#problems { color: var(--bad); }
[hidden] { display: none !important; }
`;

const SCRIPT = `
'use strict';
const TITLES = __TITLES__;
const MARKS = { pass: '\\u2713', fail: '\\u2717', warn: '!', skip: '\\u2013' };
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const child of children) if (child !== undefined && child !== null) node.append(child);
  return node;
}
function show(value) { return typeof value === 'string' ? value : JSON.stringify(value); }
/* Catalogue hints mark code with backticks; render those as <code>, the rest as text. */
function rich(text) {
  const span = el('span');
  String(text).split('\\u0060').forEach((part, i) => span.append(i % 2 ? el('code', {}, part) : part));
  return span;
}
function facts(check) {
  const dl = el('dl');
  const row = (name, value) => { if (value !== undefined) dl.append(el('dt', {}, name), el('dd', {}, show(value))); };
  const isTime = ['expiry', 'not_before', 'issued_at'].includes(check.check) && typeof check.actual === 'number' && Math.abs(check.actual) < 1e11;
  row('presented', isTime ? check.actual + ' (' + new Date(check.actual * 1000).toISOString() + ')' : check.actual);
  row('expected', check.expected);
  if (check.seconds !== undefined) row('seconds', String(check.seconds));
  if (check.leeway_seconds !== undefined) row('leeway', check.leeway_seconds + ' s');
  row('policy', check.policy);
  return dl.childElementCount ? dl : undefined;
}
function mismatchTable(rows, caption) {
  if (!rows || !rows.length) return undefined;
  const table = el('table', {}, el('tr', {}, el('th', {}, caption || 'clause'), el('th', {}, 'expected'), el('th', {}, 'presented')));
  for (const m of rows) table.append(el('tr', {}, el('td', {}, m.field), el('td', {}, show(m.expected)), el('td', {}, show(m.actual))));
  return table;
}
function traceView(trace) {
  if (!trace || !trace.length) return undefined;
  const box = el('details', {}, el('summary', {}, 'policy trace (' + trace.length + ' polic' + (trace.length === 1 ? 'y' : 'ies') + ', nearest first)'));
  for (const t of trace) {
    box.append(el('p', {}, el('code', {}, t.policy), t.matches_identity ? ' matches the identity' : ' does not match the identity',
      t.mismatches.length ? '' : '; every clause holds'));
    const table = mismatchTable(t.mismatches);
    if (table) box.append(table);
  }
  return box;
}
function render(body) {
  const verdict = $('verdict');
  verdict.hidden = false;
  verdict.className = body.verdict;
  verdict.textContent = body.verdict === 'issue' ? '\\u2713 /token would issue a credential for this request' : '\\u2717 /token would refuse this request';
  $('meta').textContent = 'server time ' + body.server_time + ' \\u00b7 request ' + body.request_id + ' \\u00b7 disclosure: ' + body.disclosure;
  const problems = $('problems');
  problems.replaceChildren(...(body.request_problems || []).map((p) => el('li', {}, el('code', {}, p.parameter), ': ' + p.message)));
  problems.hidden = !problems.childElementCount;
  const list = $('checks');
  list.replaceChildren();
  for (const check of body.checks) {
    const detail = el('div', { class: 'detail' }, el('div', { class: 'message' }, check.message), facts(check));
    if (check.hint) detail.append(el('div', { class: 'hint' }, rich(check.hint)));
    const mm = mismatchTable(check.mismatches);
    if (mm) detail.append(mm);
    const tr = traceView(check.trace);
    if (tr) detail.append(tr);
    list.append(el('li', { class: check.status, 'data-check': check.check, 'data-status': check.status },
      el('span', { class: 'mark', title: check.status }, MARKS[check.status] || '?'),
      el('span', { class: 'name' }, rich(TITLES[check.check] || check.check), el('small', {}, check.check + ' \\u00b7 ' + check.status)),
      detail));
  }
  const token = $('token');
  token.replaceChildren();
  if (body.token) {
    const dl = el('dl');
    for (const [k, v] of Object.entries(body.token)) if (v !== undefined) dl.append(el('dt', {}, k), el('dd', {}, show(v)));
    token.append(el('summary', {}, 'what the token says (unverified)'), dl);
  }
  token.hidden = !body.token;
  $('results').hidden = false;
}
$('form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const params = {};
  for (const [k, v] of form) if (typeof v === 'string' && v.trim() !== '') params[k] = v.trim();
  const verdict = $('verdict');
  $('submit').disabled = true;
  try {
    const res = await fetch(window.location.pathname, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(params),
      credentials: 'same-origin',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
    });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error_description || ('the broker answered ' + res.status));
    render(body);
  } catch (err) {
    $('results').hidden = false;
    verdict.hidden = false;
    verdict.className = 'error';
    verdict.textContent = 'The diagnosis failed: ' + err.message;
    $('checks').replaceChildren();
  } finally {
    $('submit').disabled = false;
  }
});
`;

/** The page, with the nonce that the CSP header of the same response names. */
export function renderDiagnosePage(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>argo-sts · diagnose a token</title>
<style nonce="${nonce}">${CSS}${CLUSTER_PAGE_CSS}</style>
</head>
<body>
<h1>Why is my token refused?</h1>
<p class="lead">Paste the identity-provider token you would send to <code>/token</code>. This broker runs every check and says which fails, by how much, and what to change. The token is sent only to this broker and never stored; only its SHA-256 is audited.</p>
<form id="form" method="post" autocomplete="off" novalidate>
  <label class="wide">subject token (JWT)<textarea id="subject_token" name="subject_token" required spellcheck="false" placeholder="eyJhbGciOi…"></textarea></label>
  <label>audience (target)<input id="audience" name="audience" spellcheck="false"></label>
  <label>scope<input id="scope" name="scope" spellcheck="false" placeholder="argo:submit argo:read"></label>
  <label>namespace<input id="namespace" name="namespace" spellcheck="false"></label>
  <label>requested_ttl (s)<input id="requested_ttl" name="requested_ttl" inputmode="numeric"></label>
  <button id="submit" type="submit">Diagnose</button>
</form>
<section id="results" hidden aria-live="polite">
  <div id="verdict" hidden></div>
  <p class="meta" id="meta"></p>
  <ul id="problems" hidden></ul>
  <ol id="checks"></ol>
  <details id="token" hidden></details>
</section>
${CLUSTER_PAGE_HTML}
<script nonce="${nonce}">${SCRIPT.replace('__TITLES__', scriptJson(TITLES))}${CLUSTER_PAGE_SCRIPT}</script>
</body>
</html>
`;
}
