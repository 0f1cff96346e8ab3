/**
 * Hostile text in audit lines: a verified `sub` or a free-text claim (a GitHub workflow name) may
 * hold NULs, line separators and bidi overrides. Every audit line stays one line with none of them
 * raw, and parses back to exactly the values the event holds.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLine, type AuditEvent } from '../../shared/audit/audit-event.ts';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { signingKeysEnv } from '../support/configs.ts';
import { type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { attackConfig, githubClaims, NOW } from './support.ts';

const RAW_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]/;
const HOSTILE = ['\u0000', '\u2028', '\u2029', '\u202e', '\u202d', '\u2066', '\u2069', '\u200f', '\u200b', '\u0085', '\u001b[31m', '\ufeff', '\r\n'];

describe('audit lines with hostile text', () => {
  it('fuzz: an audit line is one line with no raw control, separator or bidi character, and parses back exactly', () => {
    const text = fc.array(fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ unit: 'binary', maxLength: 4 })), { maxLength: 8 }).map((parts) => parts.join(''));
    fc.assert(fc.property(text, text, (sub, workflow) => {
      const event: AuditEvent = { v: 3, time: '2026-01-01T00:00:00.000Z', request_id: 'r', endpoint: 'token', decision: 'denied', sub, context: { workflow } };
      const line = auditLine(event);
      expect(line).not.toMatch(RAW_UNSAFE);
      expect(line.split('\n')).toHaveLength(1);
      const parsed = JSON.parse(line) as AuditEvent;
      expect(parsed.sub).toBe(sub);
      expect(parsed.context?.workflow).toBe(workflow);
    }), { numRuns: 50 });
  });

  describe('through the app', () => {
    let github: LoopbackIdp;
    let h: Harness;
    const rawLines: string[] = [];
    beforeAll(async () => {
      github = await startLoopbackIdp();
      h = await buildHarness(attackConfig(github, await startLoopbackIdp()), { now: NOW, env: await signingKeysEnv(), ports: { writeLine: (line) => rawLines.push(line) } });
    });
    afterAll(() => github.close());

    it('escapes U+2028, U+2029 and U+202E from a genuine token\'s sub and workflow claim in its audit line', async () => {
      const sub = 'repo:acme/app:ref:refs/heads/\u202eniam\u2028x\u2029';
      await h.exchange({ subject_token: await github.sign(githubClaims(github, { sub, workflow: 'deploy\u202e\u2028\u0085' })), audience: 'argo-prod', namespace: 'staging' });
      const raw = rawLines.at(-1)!;
      expect(raw).not.toMatch(RAW_UNSAFE);
      expect(raw).toContain('\\u202e');
      expect(JSON.parse(raw)).toMatchObject({ type: 'audit', sub, context: expect.objectContaining({ workflow: 'deploy\u202e\u2028\u0085' }) });
    });
  });
});
