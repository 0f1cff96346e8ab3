/**
 * docs/agents.md, replayed: its config (with loopback issuers for the idps' `issuer` URLs) is
 * loaded into the real app, and every transcript's requests are sent as written, `<token:NAME>`
 * replaced by a real token signed for NAME and `<approval_id>` by the last one answered. Each
 * answer must have the status and the JSON members the transcript shows ("…": any string).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { signingKeysEnv } from '../support/configs.ts';
import { startIdJagIssuer, type IdJagIssuer } from '../support/id-jag-issuer.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const NOW = 1_790_000_000;
const DOC = readFileSync(fileURLToPath(new URL('../../docs/agents.md', import.meta.url)), 'utf8');

interface Step { method: string; path: string; form: [string, string][]; status: number; expected: Record<string, unknown> }

function blocks(marker: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<!-- replayed: ${marker} -->\\n\`\`\`\\w*\\n([\\s\\S]*?)\`\`\``, 'g');
  for (const m of DOC.matchAll(re)) out.push(m[1]!);
  return out;
}

function steps(transcript: string): Step[] {
  return transcript.trim().split(/\n\n(?=POST )/).map((chunk) => {
    const lines = chunk.trim().split('\n');
    const [method, path] = lines[0]!.split(' ') as [string, string];
    const arrow = lines.findIndex((l) => l.startsWith('→ '));
    const form = lines.slice(1, arrow).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]);
    return { method, path, form, status: Number(lines[arrow]!.slice(2)), expected: JSON.parse(lines.slice(arrow + 1).join('\n')) };
  });
}

let idps: Record<string, LoopbackIdp>;
let corp: IdJagIssuer;
let h: Harness;
const tokens: Record<string, () => Promise<string>> = {};

beforeAll(async () => {
  idps = {
    github: await startLoopbackIdp(),
    keycloak: await startLoopbackIdp({ path: '/realms/platform' }),
    cluster: await startLoopbackIdp({ path: '/k8s' }),
  };
  corp = await startIdJagIssuer({ clients: {}, now: () => NOW });
  const [configText] = blocks('config');
  const doc = parse(configText!) as { idps: { name: string; issuer: string }[]; audit?: unknown };
  for (const idp of doc.idps) idp.issuer = idp.name === 'corp' ? corp.issuer : idps[idp.name]!.issuer;
  delete doc.audit; // the harness records audit lines in memory
  h = await buildHarness(stringify(doc), { now: NOW, env: { ARGO_STS_SIGNING_KEYS: (await signingKeysEnv()).SIGNING_KEYS } });
  const kc = (sub: string, groups: string[]) => () => idps.keycloak!.sign(fixtureClaims('keycloak-access-token', NOW, { iss: idps.keycloak!.issuer, sub, groups }));
  Object.assign(tokens, {
    'ci-main': () => idps.github!.sign(fixtureClaims('github-actions', NOW, { iss: idps.github!.issuer })),
    alice: kc('alice', ['platform-engineers']),
    bob: kc('bob', ['oncall']),
    'release-agent': kc('release-agent', []),
    'release-agent-sa': () => idps.cluster!.sign(fixtureClaims('kubernetes-serviceaccount', NOW, { iss: idps.cluster!.issuer })),
    'pod-default-token': () => idps.cluster!.sign(fixtureClaims('kubernetes-serviceaccount', NOW, { iss: idps.cluster!.issuer, aud: ['https://kubernetes.default.svc.cluster.local'] })),
    'alice-id-jag': () => corp.sign({ iss: corp.issuer, sub: 'alice', aud: 'https://sts.example.com', client_id: 'mcp-agent', jti: crypto.randomUUID(), iat: NOW, exp: NOW + 300, resource: 'argo-prod', scope: 'argo:read' }, 'oauth-id-jag+jwt'),
  });
});
afterAll(async () => {
  await Promise.all([...Object.values(idps).map((i) => i.close()), corp.close()]);
});

describe('docs/agents.md, replayed', () => {
  const transcripts = blocks('transcript');

  it('has the config and a transcript for each of the four patterns', () => {
    expect(blocks('config')).toHaveLength(1);
    expect(transcripts.length).toBeGreaterThanOrEqual(4);
  });

  it.each(transcripts.map((t, i) => [i + 1, t] as const))('transcript %i answers as written', async (_n, transcript) => {
    let approvalId = '';
    for (const step of steps(transcript)) {
      const form = new URLSearchParams();
      for (const [name, value] of step.form) {
        const token = /^<token:([a-z0-9-]+)>$/.exec(value);
        form.append(name, token ? await tokens[token[1]!]!() : value.replace('<approval_id>', approvalId));
      }
      const res = await h.app.request(step.path.replace('<approval_id>', approvalId), {
        method: step.method,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
      const body = (await res.json()) as Record<string, unknown>;
      expect({ path: step.path, status: res.status }).toEqual({ path: step.path, status: step.status });
      for (const [key, value] of Object.entries(step.expected)) {
        if (value === '…') expect(typeof body[key], key).toBe('string');
        else expect(body[key], key).toEqual(value);
      }
      if (typeof body.approval_id === 'string') approvalId = body.approval_id;
    }
  });
});
