/**
 * The check catalogue is the one source of what /diagnose, its page, the CLI and
 * docs/troubleshooting.md say: its shape, its near-miss rules, and the generated document.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CHECK_CATALOGUE } from '../../shared/diagnose/catalogue.ts';
import { renderTroubleshootingDoc } from '../../scripts/generate-troubleshooting-doc.ts';
import { audienceCause, findIssuerNearMiss, issuerNearMissCause } from '../../shared/diagnose/near-miss.ts';
import { CHECK_IDS } from '../../shared/errors.ts';
import { TROUBLESHOOTING_DOC, troubleshootingDoc } from '../../scripts/generate-troubleshooting-doc.ts';

describe('the catalogue', () => {
  it('has one entry per check id, in the contract order, with unique cause ids', () => {
    expect(CHECK_CATALOGUE.map((e) => e.id)).toEqual([...CHECK_IDS]);
    const ids = CHECK_CATALOGUE.flatMap((e) => e.causes.map((c) => c.id));
    expect(new Set(ids).size).toBe(ids.length);
    for (const entry of CHECK_CATALOGUE) for (const c of entry.causes) expect(c.id.startsWith(`${entry.id}.`)).toBe(true);
  });

  it('renders every hint without facts, with placeholders and never "undefined"', () => {
    for (const entry of CHECK_CATALOGUE) {
      for (const c of entry.causes) {
        expect(c.hint({}), c.id).not.toMatch(/undefined|NaN|\[object/);
        expect(c.hint({}).length, c.id).toBeGreaterThan(20);
      }
    }
  });
});

describe('issuer near misses', () => {
  const table: [string, string, string, string | undefined][] = [
    ['trailing slash', 'https://token.actions.githubusercontent.com/', 'https://token.actions.githubusercontent.com', 'issuer.trailing-slash'],
    ['http vs https', 'http://keycloak.example.com/realms/platform', 'https://keycloak.example.com/realms/platform', 'issuer.scheme'],
    ['letter case', 'https://Keycloak.example.com/realms/Platform', 'https://keycloak.example.com/realms/platform', 'issuer.case'],
    ['Entra v1 for v2', 'https://sts.windows.net/8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b/', 'https://login.microsoftonline.com/8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b/v2.0', 'issuer.entra-version'],
    ['Entra v2 for v1', 'https://login.microsoftonline.com/8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b/v2.0', 'https://sts.windows.net/8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b/', 'issuer.entra-version'],
    ['Entra another tenant', 'https://login.microsoftonline.com/00000000-0000-4000-8000-000000000000/v2.0', 'https://login.microsoftonline.com/8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b/v2.0', 'issuer.entra-tenant'],
    ['Keycloak /auth prefix', 'https://kc.example.com/auth/realms/platform', 'https://kc.example.com/realms/platform', 'issuer.keycloak-auth-path'],
    ['Keycloak another realm', 'https://kc.example.com/realms/master', 'https://kc.example.com/realms/platform', 'issuer.keycloak-realm'],
    ['GitHub enterprise slug', 'https://token.actions.githubusercontent.com/acme', 'https://token.actions.githubusercontent.com', 'issuer.github-enterprise-slug'],
    ['GitLab port', 'https://gitlab.example.com:8443', 'https://gitlab.example.com', 'issuer.gitlab-host'],
    ['GitLab www', 'https://www.gitlab.example.com', 'https://gitlab.example.com', 'issuer.gitlab-host'],
    ['Entra v1 for v2 in the China cloud', 'https://sts.chinacloudapi.cn/8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b/', 'https://login.chinacloudapi.cn/8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b/v2.0', 'issuer.entra-version'],
    ['Entra another tenant in US Government', 'https://login.microsoftonline.us/00000000-0000-4000-8000-000000000000/v2.0', 'https://login.microsoftonline.us/8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b/v2.0', 'issuer.entra-tenant'],
    ['unrelated issuers', 'https://evil.example.com', 'https://token.actions.githubusercontent.com', undefined],
    ['another Keycloak host', 'https://kc.evil.example/realms/platform', 'https://kc.example.com/realms/platform', undefined],
  ];
  for (const [name, token, configured, cause] of table) {
    it(`${cause ?? 'no near miss'}: ${name}`, () => {
      expect(issuerNearMissCause(token, configured)?.id).toBe(cause);
    });
  }

  it('picks the first configured issuer the token nearly names', () => {
    const idps = [{ issuer: 'https://a.example.com' }, { issuer: 'https://gitlab.example.com' }];
    expect(findIssuerNearMiss('https://gitlab.example.com/', idps)?.idp).toBe(idps[1]);
  });
});

describe('audience causes', () => {
  it('names each provider trap', () => {
    expect(audienceCause(['account'], 'https://kc.example.com/realms/platform', 'keycloak', ['argo-sts']).id).toBe('audience.keycloak-no-mapper');
    expect(audienceCause([], 'https://kc.example.com/realms/platform', 'generic', ['argo-sts']).id).toBe('audience.keycloak-no-mapper');
    expect(audienceCause(['api://argo-sts'], 'https://sts.windows.net/t/', 'entra', ['3c1d9e8f-7a6b-4c5d-8e9f-0a1b2c3d4e5f']).id).toBe('audience.entra-uri-vs-guid');
    expect(audienceCause(['https://github.com/acme'], 'https://token.actions.githubusercontent.com', 'github-actions', ['argo-sts']).id).toBe('audience.github-default');
    expect(audienceCause(['https://gitlab.example.com'], 'https://gitlab.example.com', 'gitlab', ['argo-sts']).id).toBe('audience.gitlab');
    expect(audienceCause(['other'], 'https://idp.example.com', 'generic', ['argo-sts']).id).toBe('audience.mismatch');
  });
});

describe('docs/troubleshooting.md', () => {
  it('is generated from the catalogue and up to date (npm run docs:troubleshooting)', () => {
    expect(readFileSync(TROUBLESHOOTING_DOC, 'utf8'), 'docs/troubleshooting.md is stale: run npm run docs:troubleshooting').toBe(troubleshootingDoc());
  });

  it('documents every cause under its check', () => {
    const doc = renderTroubleshootingDoc();
    for (const entry of CHECK_CATALOGUE) {
      expect(doc).toContain(`## ${entry.id}\n`);
      for (const c of entry.causes) expect(doc).toContain(`### ${c.id}\n`);
    }
  });
});
