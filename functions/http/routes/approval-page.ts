/**
 * GET /approvals/<id>: the page an approver opens from the approval link. It shows who asks, for
 * what, for how long and why, and takes the approver's own IdP token (pasted, sent only to this
 * broker in a same-origin POST body) with Approve / Deny. Same rules as the diagnose page: inline
 * only, strict CSP with a nonce, values rendered with textContent.
 */
import type { ApprovalRecord } from '../../../shared/exchange/approvals.ts';

/** JSON safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

/** What the page shows of a record: never its fingerprint. */
export function approvalView(record: ApprovalRecord, now: number) {
  const status = record.status === 'pending' && now >= record.expires_at ? 'expired' : record.status;
  return {
    approval_id: record.id,
    status,
    requester: record.requester,
    actor: record.actor ?? null,
    policy: record.policy,
    target: record.target,
    namespace: record.namespace,
    scopes: record.scopes,
    ttl_seconds: record.ttl,
    reason: record.reason ?? null,
    requested_at: new Date(record.created_at * 1000).toISOString(),
    expires_at: new Date(record.expires_at * 1000).toISOString(),
    approver: record.approver ?? null,
  };
}

export function renderApprovalPage(nonce: string, view: ReturnType<typeof approvalView>): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>argo-sts: approve a request</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="${nonce}">
body{font:15px/1.45 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
dl{display:grid;grid-template-columns:10rem 1fr;gap:.3rem 1rem}dt{color:#57606a}dd{margin:0;word-break:break-all}
textarea{width:100%;height:7rem;font:12px monospace}button{font-size:15px;padding:.4rem 1.2rem;margin-right:.6rem}
#status{font-weight:600}#result{margin-top:1rem;font-weight:600}
</style></head><body>
<h1>Approve a credential request</h1>
<p>Status: <span id="status"></span></p>
<dl>
<dt>Requested by</dt><dd id="requester"></dd>
<dt>Acting agent</dt><dd id="actor"></dd>
<dt>Target</dt><dd id="target"></dd>
<dt>Namespace</dt><dd id="namespace"></dd>
<dt>Scopes</dt><dd id="scopes"></dd>
<dt>For</dt><dd id="ttl"></dd>
<dt>Reason</dt><dd id="reason"></dd>
<dt>Policy</dt><dd id="policy"></dd>
<dt>Expires</dt><dd id="expires"></dd>
<dt>Decided by</dt><dd id="approver"></dd>
</dl>
<form id="decide">
<p><label for="token">Your own IdP token (it proves who approves; it is sent only to this broker)</label></p>
<textarea id="token" name="subject_token" autocomplete="off" spellcheck="false" required></textarea>
<p><button type="submit" name="decision" value="approve" id="approve">Approve</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button></p>
</form>
<div id="result" role="status"></div>
<script nonce="${nonce}">
const view = ${scriptJson(view)};
const set = (id, text) => { document.getElementById(id).textContent = text; };
set('status', view.status);
set('requester', view.requester);
set('actor', view.actor ?? '(none: the requester itself)');
set('target', view.target);
set('namespace', view.namespace);
set('scopes', view.scopes.join(' '));
set('ttl', view.ttl_seconds + ' s');
set('reason', view.reason ?? '(none given)');
set('policy', view.policy);
set('expires', view.expires_at);
set('approver', view.approver ?? '-');
const form = document.getElementById('decide');
if (view.status !== 'pending') form.hidden = true;
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = new URLSearchParams({ decision: event.submitter.value, subject_token: document.getElementById('token').value.trim() });
  const res = await fetch(location.pathname, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  const answer = await res.json();
  set('result', res.ok ? 'Recorded: ' + answer.status : 'Refused: ' + answer.error + ' (' + answer.error_description + ')');
  if (res.ok) { set('status', answer.status); form.hidden = true; }
});
</script></body></html>`;
}
