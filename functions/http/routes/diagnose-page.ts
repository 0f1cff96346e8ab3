/**
 * GET /diagnose: a page for people. Paste a token, read the checks. Everything is inline (no
 * third-party assets) under a strict Content-Security-Policy with a per-response nonce; the
 * token goes only to this broker, in the body of a same-origin POST, never in a URL. Results are
 * rendered with textContent only, so nothing in a token or a config can become markup.
 */
import { CHECK_CATALOGUE } from '../../../shared/diagnose/catalogue.ts';
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
textarea.short { min-height: 3rem; }
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
.note { font-size: .85rem; color: var(--skip); }
code { font-family: ui-monospace, monospace; font-size: .85em; background: var(--bg2); padding: 0 .2em; border-radius: 3px; }
table { border-collapse: collapse; font-size: .82rem; width: 100%; }
th, td { text-align: left; border-bottom: 1px solid var(--line); padding: .2rem .4rem; vertical-align: top; font-family: ui-monospace, monospace; word-break: break-all; }
th { font-family: inherit; color: var(--skip); font-weight: 600; }
details summary { cursor: pointer; font-size: .85rem; color: var(--skip); }
#problems { color: var(--bad); }
[hidden] { display: none !important; }
@media (max-width: 40rem) {
  body { padding: 1rem .75rem; }
  form { grid-template-columns: 1fr 1fr; }
  ol#checks > li { grid-template-columns: 1.4rem 1fr; }
  ol#checks > li > .detail { grid-column: 2; }
  dl { grid-template-columns: 1fr; }
  dt { margin-top: .2rem; }
  table, tbody, tr, th, td { display: block; }
  tr:first-child { display: none; }
  tr { border-bottom: 1px solid var(--line); padding: .2rem 0; }
  td { border: 0; padding: .05rem .2rem; }
  td:nth-child(2)::before { content: 'expected: '; color: var(--skip); }
  td:nth-child(3)::before { content: 'presented: '; color: var(--skip); }
}
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
/* 95 -> "1 min 35 s"; 7200 -> "2 h". */
function duration(total) {
  let s = Math.abs(Math.round(total));
  const parts = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['min', 60]]) {
    if (s >= size) { parts.push(Math.floor(s / size) + ' ' + unit); s %= size; }
  }
  if (s || !parts.length) parts.push(s + ' s');
  return parts.slice(0, 2).join(' ');
}
function isEpoch(value) { return typeof value === 'number' && Number.isFinite(value) && value > 0 && value < 1e11; }
function date(seconds) { return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z'); }
const TIME_CLAIMS = ['iat', 'nbf', 'exp'];
/* A claim time as a date and how far it is from the server time. */
function when(seconds, serverTime) {
  const delta = seconds - Math.floor(Date.parse(serverTime) / 1000);
  return date(seconds) + (Number.isFinite(delta) ? ' (' + (delta === 0 ? 'now' : delta > 0 ? 'in ' + duration(delta) : duration(delta) + ' ago') + ')' : '');
}
function facts(check, serverTime) {
  const dl = el('dl');
  const row = (name, value) => { if (value !== undefined) dl.append(el('dt', {}, name), el('dd', {}, show(value))); };
  const isTime = ['expiry', 'not_before', 'issued_at'].includes(check.check) && isEpoch(check.actual);
  row('presented', isTime ? when(check.actual, serverTime) : check.actual);
  row('expected', check.expected);
  if (check.seconds !== undefined) {
    const d = duration(check.seconds);
    const ahead = check.seconds > 0;
    row('measured', check.check === 'expiry' ? (check.seconds >= 0 ? 'expired ' + d + ' ago' : 'expires in ' + d)
      : check.check === 'not_before' ? (ahead ? 'valid in ' + d : 'valid since ' + d)
      : (ahead ? 'issued ' + d + ' in the future' : 'issued ' + d + ' ago'));
  }
  if (check.leeway_seconds !== undefined) row('leeway', duration(check.leeway_seconds));
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
  const failing = body.checks.filter((c) => c.status === 'fail').map((c) => c.check);
  if ((body.request_problems || []).length) failing.unshift('request (' + body.request_problems.map((p) => p.parameter).join(', ') + ')');
  verdict.textContent = body.verdict === 'issue'
    ? '\\u2713 /token would issue a credential for this request'
    : '\\u2717 /token would refuse this request' + (failing.length ? ' \\u2014 failing: ' + failing.join(', ') : '');
  $('meta').textContent = 'server time ' + body.server_time + ' \\u00b7 request ' + body.request_id + ' \\u00b7 disclosure: ' + body.disclosure +
    (body.reveal ? ' (diagnose.reveal: ' + body.reveal + ')' : '');
  const problems = $('problems');
  problems.replaceChildren(...(body.request_problems || []).map((p) => el('li', {}, el('code', {}, p.parameter), ': ' + p.message)));
  problems.hidden = !problems.childElementCount;
  const list = $('checks');
  list.replaceChildren();
  for (const check of body.checks) {
    const detail = el('div', { class: 'detail' }, el('div', { class: 'message' }, check.message), facts(check, body.server_time));
    /* A fix is styled as one only where something fails or warns; on a passing check it is a note. */
    if (check.hint) detail.append(el('div', { class: check.status === 'pass' ? 'note' : 'hint' }, rich(check.hint)));
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
    for (const [k, v] of Object.entries(body.token)) {
      if (v !== undefined) dl.append(el('dt', {}, k), el('dd', {}, TIME_CLAIMS.includes(k) && isEpoch(v) ? when(v, body.server_time) : show(v)));
    }
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
  if (params.actor_token) params.actor_token_type = 'urn:ietf:params:oauth:token-type:access_token';
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
  <label class="wide">actor token (optional: the agent acting for the subject)<textarea id="actor_token" name="actor_token" class="short" spellcheck="false" placeholder="eyJhbGciOi…"></textarea></label>
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
