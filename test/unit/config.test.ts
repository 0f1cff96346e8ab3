import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/config/parse-config.ts';
import { parseConfig, parseConfigText } from '../../shared/broker/load-config.ts';
import { type Config } from '../../shared/config/schema.ts';

/** A small valid document; each test changes one thing. */
function baseDoc(): Record<string, any> {
  return {
    issuer: 'https://sts.example.com',
    signing: { alg: 'ES256', keys: 'env:ARGO_STS_SIGNING_KEYS' },
    idps: [
      { name: 'github', issuer: 'https://token.actions.githubusercontent.com', audiences: ['argo-sts'], preset: 'github-actions' },
      { name: 'keycloak', issuer: 'https://keycloak.example.com/realms/platform', audiences: ['argo-sts'] },
    ],
    targets: [
      { name: 'argo-prod', kind: 'kubernetes-oidc', audience: 'kubernetes' },
      { name: 'argo-dev', kind: 'kubernetes-oidc', audience: 'kubernetes-dev' },
    ],
    policies: [
      {
        id: 'ci-main',
        idp: 'github',
        target: 'argo-prod',
        subject: 'repo:acme/app:ref:refs/heads/main',
        namespaces: ['ci'],
        scopes: ['argo:submit', 'argo:read'],
      },
      {
        id: 'people',
        idp: 'keycloak',
        target: ['argo-dev'],
        claims: { groups: 'platform-engineers' },
        namespaces: ['dev'],
        scopes: ['argo:manage'],
      },
    ],
  };
}

function withChange(change: (doc: Record<string, any>) => void): Record<string, any> {
  const doc = baseDoc();
  change(doc);
  return doc;
}

/** The issues of a refused document; fails the test when the document is accepted. */
function issuesOf(doc: unknown): readonly string[] {
  try {
    parseConfig(doc);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected the configuration to be refused');
}

function issuesOfText(text: string): readonly string[] {
  try {
    parseConfigText(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected the configuration to be refused');
}

const DESIGN_EXAMPLE = `
issuer: https://sts.example.com        # iss of minted tokens; discovery is served for it
signing:
  alg: ES256
  keys: env:ARGO_STS_SIGNING_KEYS
defaults: { ttl: 10m, max_ttl: 1h, clock_skew: 60s }
idps:
  - name: github
    issuer: https://token.actions.githubusercontent.com
    audiences: [argo-sts]
    preset: github-actions
targets:
  - name: argo-prod
    kind: kubernetes-oidc
    audience: kubernetes
    argo_server: https://argo.example.com
  - name: argo-legacy
    kind: kubernetes-tokenrequest
    api_server: https://k8s.example.com:6443
    credentials: aws-secrets-manager:argo-sts/cluster-token
  - name: aks-prod
    kind: entra-obo
    tenant_id: 8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b
    client_id: 3c1d9e8f-7a6b-4c5d-8e9f-0a1b2c3d4e5f
    client_secret: env:ENTRA_CLIENT_SECRET
policies:
  - id: ci-main
    idp: github
    target: argo-prod
    subject: repo:acme/app:ref:refs/heads/main
    claims: { repository_owner: acme }
    namespaces: [ci]
    scopes: [argo:submit, argo:read]
    max_ttl: 15m
audit: { sink: sqlite:./argo-sts-audit.db }
`;

describe('parseConfigText: one YAML or JSON document', () => {
  it('accepts the example document of the design', () => {
    const config = parseConfigText(DESIGN_EXAMPLE);
    expect(config.issuer).toBe('https://sts.example.com');
    expect(config.defaults).toEqual({ ttl: 600, max_ttl: 3600, clock_skew: 60 });
    expect(config.targets.map((t) => t.kind)).toEqual(['kubernetes-oidc', 'kubernetes-tokenrequest', 'entra-obo']);
    expect(config.policies[0]).toMatchObject({ id: 'ci-main', targets: ['argo-prod'], max_ttl: 900, claims: { repository_owner: 'acme' } });
    expect(config.audit).toEqual({ sink: 'sqlite:./argo-sts-audit.db' });
  });

  it('accepts JSON as well as YAML, with the same result', () => {
    const fromYaml = parseConfigText(DESIGN_EXAMPLE);
    const fromJson = parseConfigText(JSON.stringify(baseDoc()));
    expect(fromJson.policies.map((p) => p.id)).toEqual(['ci-main', 'people']);
    const sameAsYaml = parseConfigText(JSON.stringify({
      issuer: 'https://sts.example.com',
      signing: { alg: 'ES256', keys: 'env:ARGO_STS_SIGNING_KEYS' },
      defaults: { ttl: '10m', max_ttl: '1h', clock_skew: '60s' },
      idps: [{ name: 'github', issuer: 'https://token.actions.githubusercontent.com', audiences: ['argo-sts'], preset: 'github-actions' }],
      targets: [
        { name: 'argo-prod', kind: 'kubernetes-oidc', audience: 'kubernetes', argo_server: 'https://argo.example.com' },
        { name: 'argo-legacy', kind: 'kubernetes-tokenrequest', api_server: 'https://k8s.example.com:6443', credentials: 'aws-secrets-manager:argo-sts/cluster-token' },
        {
          name: 'aks-prod',
          kind: 'entra-obo',
          tenant_id: '8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b',
          client_id: '3c1d9e8f-7a6b-4c5d-8e9f-0a1b2c3d4e5f',
          client_secret: 'env:ENTRA_CLIENT_SECRET',
        },
      ],
      policies: [{
        id: 'ci-main',
        idp: 'github',
        target: 'argo-prod',
        subject: 'repo:acme/app:ref:refs/heads/main',
        claims: { repository_owner: 'acme' },
        namespaces: ['ci'],
        scopes: ['argo:submit', 'argo:read'],
        max_ttl: '15m',
      }],
      audit: { sink: 'sqlite:./argo-sts-audit.db' },
    }));
    expect(sameAsYaml).toEqual(fromYaml);
  });

  it('refuses a document that is not YAML, naming the document as the path', () => {
    const issues = issuesOfText('issuer: [unclosed');
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^\(document\): not valid YAML or JSON/);
  });

  it('refuses a YAML mapping with a repeated key', () => {
    const issues = issuesOfText(`${DESIGN_EXAMPLE}\nissuer: https://other.example.com\n`);
    expect(issues[0]).toMatch(/^\(document\): .*unique/);
  });

  it('refuses a document that is not a mapping', () => {
    expect(issuesOfText('- just\n- a list\n')[0]).toMatch(/^\(root\): /);
  });
});

describe('parseConfig: defaults', () => {
  it('fills defaults: ttl 10m, max_ttl 1h, clock_skew 60s, alg ES256, preset generic, reveal verified', () => {
    const config = parseConfig(withChange((doc) => {
      delete doc.signing.alg;
    }));
    expect(config.defaults).toEqual({ ttl: 600, max_ttl: 3600, clock_skew: 60 });
    expect(config.signing.alg).toBe('ES256');
    expect(config.idps[1]!.preset).toBe('generic');
    expect(config.diagnose.reveal).toBe('verified');
  });

  it('gives an idp without clock_skew the default clock_skew, and keeps its own otherwise', () => {
    const config = parseConfig(withChange((doc) => {
      doc.defaults = { clock_skew: '45s' };
      doc.idps[1].clock_skew = '2m';
    }));
    expect(config.idps.map((idp) => idp.clock_skew)).toEqual([45, 120]);
  });

  it('turns a policy target written as one name into a list of targets', () => {
    const config = parseConfig(baseDoc());
    expect(config.policies.map((p) => p.targets)).toEqual([['argo-prod'], ['argo-dev']]);
    expect(config.policies[0]).not.toHaveProperty('target');
  });

  it('knows the built-in scopes and adds the configured ones', () => {
    const config = parseConfig(withChange((doc) => {
      doc.scopes = { 'logs:read': { rules: [{ apiGroups: [''], resources: ['pods/log'], verbs: ['get'] }] } };
      doc.policies[0].scopes = ['logs:read'];
    }));
    expect([...config.scopes.keys()]).toEqual(['argo:read', 'argo:submit', 'argo:manage', 'k8s:view', 'k8s:edit', 'logs:read']);
  });

  it('keeps issuers exactly as written: no trailing-slash or case folding', () => {
    const config = parseConfig(withChange((doc) => {
      doc.idps[1].issuer = 'https://Keycloak.example.com/realms/Platform/';
    }));
    expect(config.idps[1]!.issuer).toBe('https://Keycloak.example.com/realms/Platform/');
  });
});

describe('parseConfig: durations are integer seconds or strings like 90s, 10m, 1h30m', () => {
  it('reads 90s, 1h30m and a bare integer', () => {
    const config = parseConfig(withChange((doc) => {
      doc.defaults = { ttl: '90s', max_ttl: '1h30m', clock_skew: 30 };
    }));
    expect(config.defaults).toEqual({ ttl: 90, max_ttl: 5400, clock_skew: 30 });
  });

  it('reads a policy max_ttl of 10m as 600 seconds', () => {
    const config = parseConfig(withChange((doc) => {
      doc.policies[0].max_ttl = '10m';
    }));
    expect(config.policies[0]!.max_ttl).toBe(600);
  });

  it('reads a YAML duration written as a bare number', () => {
    const config = parseConfigText(DESIGN_EXAMPLE.replace('max_ttl: 15m', 'max_ttl: 900'));
    expect(config.policies[0]!.max_ttl).toBe(900);
  });

  it.each(['10 minutes', '1.5h', '-10s', '1d'])('refuses the duration %j, naming its path', (value) => {
    expect(issuesOf(withChange((doc) => {
      doc.defaults = { ttl: value };
    }))).toEqual([expect.stringMatching(/^defaults\.ttl: not a duration/)]);
  });

  it('refuses a fractional number of seconds', () => {
    expect(issuesOf(withChange((doc) => {
      doc.policies[0].max_ttl = 1.5;
    }))).toEqual([expect.stringMatching(/^policies\[0\]\.max_ttl: not a duration/)]);
  });

  it('refuses a defaults.max_ttl over a day', () => {
    expect(issuesOf(withChange((doc) => {
      doc.defaults = { max_ttl: '25h' };
    }))).toContain('defaults.max_ttl: 25h is over the limit: at most 24h');
  });

  it('refuses a defaults.ttl longer than defaults.max_ttl', () => {
    expect(issuesOf(withChange((doc) => {
      doc.defaults = { ttl: '2h', max_ttl: '1h' };
    }))).toContain('defaults.ttl: exceeds defaults.max_ttl');
  });

  it('refuses a zero defaults.ttl', () => {
    expect(issuesOf(withChange((doc) => {
      doc.defaults = { ttl: 0 };
    }))).toContain('defaults.ttl: must be positive');
  });

  it('refuses a clock_skew over five minutes, in defaults and per idp', () => {
    expect(issuesOf(withChange((doc) => {
      doc.defaults = { clock_skew: '6m' };
      doc.idps[1].clock_skew = 301;
    }))).toEqual(['defaults.clock_skew: 6m is over the limit: at most 5m', 'idps[1].clock_skew: 5m1s is over the limit: at most 5m']);
  });
});

describe('parseConfig: issuers and endpoints use https, except loopback hosts', () => {
  it('refuses an http idp issuer on a public host, naming idps[1].issuer', () => {
    expect(issuesOf(withChange((doc) => {
      doc.idps[1].issuer = 'http://keycloak.example.com/realms/platform';
    }))).toEqual(['idps[1].issuer: issuer must use https (http only for loopback hosts)']);
  });

  it('refuses an http broker issuer on a public host', () => {
    expect(issuesOf(withChange((doc) => {
      doc.issuer = 'http://sts.example.com';
    }))).toEqual(['issuer: issuer must use https (http only for loopback hosts)']);
  });

  it.each([
    'http://localhost:8080',
    'http://127.0.0.1:9000/realms/test',
    'http://127.10.20.30',
    'http://[::1]:8443',
  ])('accepts the loopback http issuer %s', (issuer) => {
    const config = parseConfig(withChange((doc) => {
      doc.idps[0].issuer = issuer;
    }));
    expect(config.idps[0]!.issuer).toBe(issuer);
  });

  it.each([
    'http://localhost.example.com',
    'http://127.0.0.1.nip.io',
    'http://10.0.0.1',
    'http://[::2]',
  ])('refuses the non-loopback http issuer %s', (issuer) => {
    expect(issuesOf(withChange((doc) => {
      doc.idps[0].issuer = issuer;
    }))).toEqual(['idps[0].issuer: issuer must use https (http only for loopback hosts)']);
  });

  it.each(['token.actions.githubusercontent.com', 'ftp://idp.example.com', ''])('refuses the issuer %j that is not an https URL', (issuer) => {
    expect(issuesOf(withChange((doc) => {
      doc.idps[0].issuer = issuer;
    }))[0]).toMatch(/^idps\[0\]\.issuer: issuer must/);
  });

  it('refuses an issuer with a query or fragment', () => {
    expect(issuesOf(withChange((doc) => {
      doc.idps[0].issuer = 'https://idp.example.com/?tenant=a';
    }))).toEqual(['idps[0].issuer: issuer must not have a query or fragment']);
  });

  it('refuses an http jwks_uri and argo_server on public hosts', () => {
    expect(issuesOf(withChange((doc) => {
      doc.idps[0].jwks_uri = 'http://keys.example.com/jwks';
      doc.targets[0].argo_server = 'http://argo.example.com';
    }))).toEqual([
      'idps[0].jwks_uri: jwks_uri must use https (http only for loopback hosts)',
      'targets[0].argo_server: argo_server must use https (http only for loopback hosts)',
    ]);
  });
});

describe('parseConfig: keys are strict', () => {
  it.each([
    ['(root)', (doc: Record<string, any>) => { doc.polices = []; }, 'polices'],
    ['signing', (doc: Record<string, any>) => { doc.signing.key = 'env:X'; }, 'key'],
    ['defaults', (doc: Record<string, any>) => { doc.defaults = { ttl: 60, maxttl: 60 }; }, 'maxttl'],
    ['idps[1]', (doc: Record<string, any>) => { doc.idps[1].audience = 'argo-sts'; }, 'audience'],
    ['targets[0]', (doc: Record<string, any>) => { doc.targets[0].api_server = 'https://k8s.example.com'; }, 'api_server'],
    ['policies[1]', (doc: Record<string, any>) => { doc.policies[1].namespace = 'dev'; }, 'namespace'],
  ])('refuses an unknown key under %s, naming the path and the key', (path, change, key) => {
    const issues = issuesOf(withChange(change));
    expect(issues).toHaveLength(1);
    expect(issues[0]!.startsWith(`${path === '(root)' ? '' : `${path}.`}${key}: `)).toBe(true);
    expect(issues[0]).toContain(`"${key}"`);
  });

  it('refuses an unknown target kind, naming targets[0].kind', () => {
    expect(issuesOf(withChange((doc) => {
      doc.targets[0].kind = 'kubernetes';
    }))[0]).toMatch(/^targets\[0\]\.kind: /);
  });

  it('refuses a missing required key, naming it', () => {
    expect(issuesOf(withChange((doc) => {
      delete doc.idps[0].audiences;
    }))[0]).toMatch(/^idps\[0\]\.audiences: /);
  });
});

describe('parseConfig: signing', () => {
  it.each(['EdDSA', 'HS256', 'none'])('refuses signing.alg %s', (alg) => {
    expect(issuesOf(withChange((doc) => {
      doc.signing.alg = alg;
    }))[0]).toMatch(/^signing\.alg: /);
  });

  it.each(['env:ARGO_STS_SIGNING_KEYS', 'file:/etc/argo-sts/keys.json', 'aws-secrets-manager:argo-sts/keys', 'aws-secrets-manager:argo-sts/keys#jwks', 'generate'])(
    'accepts signing.keys %s',
    (keys) => {
      expect(parseConfig(withChange((doc) => {
        doc.signing.keys = keys;
      })).signing.keys).toBe(keys);
    },
  );

  it('refuses a literal key in signing.keys: secrets are references', () => {
    expect(issuesOf(withChange((doc) => {
      doc.signing.keys = '{"kty":"EC","crv":"P-256","d":"..."}';
    }))).toEqual(['signing.keys: must be a secret reference: env:NAME, file:PATH or aws-secrets-manager:ID[#key]']);
  });

  it('refuses a literal client_secret on an Entra target', () => {
    expect(issuesOf(withChange((doc) => {
      doc.targets.push({ name: 'aks', kind: 'entra-client-credentials', tenant_id: 't', client_id: 'c', client_secret: 's3cr3t' });
    }))[0]).toMatch(/^targets\[2\]\.client_secret: must be a secret reference/);
  });
});

describe('parseConfig: cross-references and identity binding', () => {
  it('refuses a policy binding no identity (no subject, subject_pattern or claims)', () => {
    expect(issuesOf(withChange((doc) => {
      delete doc.policies[0].subject;
    }))).toEqual(['policies[0]: binds no identity; set subject, subject_pattern or claims']);
  });

  it('refuses a policy whose only binding is an empty claims map', () => {
    expect(issuesOf(withChange((doc) => {
      doc.policies[1].claims = {};
    }))).toEqual(['policies[1]: binds no identity; set subject, subject_pattern or claims']);
  });

  it.each(['*', '**'])('refuses subject_pattern %j without claims: it matches every subject', (pattern) => {
    expect(issuesOf(withChange((doc) => {
      delete doc.policies[0].subject;
      doc.policies[0].subject_pattern = pattern;
    }))).toEqual([`policies[0].subject_pattern: "${pattern}" matches every subject; bind claims too or narrow it`]);
  });

  it('accepts subject_pattern "*" when claims bind the identity', () => {
    const config = parseConfig(withChange((doc) => {
      delete doc.policies[0].subject;
      doc.policies[0].subject_pattern = '*';
      doc.policies[0].claims = { repository_owner: 'acme' };
    }));
    expect(config.policies[0]!.subject_pattern).toBe('*');
  });

  it('refuses a policy with both subject and subject_pattern', () => {
    expect(issuesOf(withChange((doc) => {
      doc.policies[0].subject_pattern = 'repo:acme/*';
    }))).toEqual(['policies[0]: set subject or subject_pattern, not both']);
  });

  it('refuses a policy naming an unknown idp', () => {
    expect(issuesOf(withChange((doc) => {
      doc.policies[1].idp = 'gitlab';
    }))).toEqual(['policies[1].idp: no idp named "gitlab"']);
  });

  it('refuses a policy naming an unknown target, by its position in the target list', () => {
    expect(issuesOf(withChange((doc) => {
      doc.policies[0].target = 'argo-staging';
      doc.policies[1].target = ['argo-dev', 'argo-qa'];
    }))).toEqual(['policies[0].target: no target named "argo-staging"', 'policies[1].target[1]: no target named "argo-qa"']);
  });

  it('refuses a policy naming an unknown scope', () => {
    expect(issuesOf(withChange((doc) => {
      doc.policies[0].scopes = ['argo:read', 'argo:admin'];
    }))).toEqual(['policies[0].scopes[1]: unknown scope "argo:admin"']);
  });

  it('refuses a configured scope that redefines a built-in one', () => {
    expect(issuesOf(withChange((doc) => {
      doc.scopes = { 'argo:read': { rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] } };
    }))).toEqual(['scopes.argo:read: redefines a built-in scope']);
  });

  it('refuses a policy max_ttl over defaults.max_ttl', () => {
    expect(issuesOf(withChange((doc) => {
      doc.defaults = { max_ttl: '1h' };
      doc.policies[0].max_ttl = '1h30m';
    }))).toEqual(['policies[0].max_ttl: 1h30m is over defaults.max_ttl 1h; lower it or raise defaults.max_ttl (at most 24h)']);
  });

  it('accepts a policy max_ttl equal to defaults.max_ttl', () => {
    expect(parseConfig(withChange((doc) => {
      doc.policies[0].max_ttl = '1h';
    })).policies[0]!.max_ttl).toBe(3600);
  });

  it('refuses a zero policy max_ttl', () => {
    expect(issuesOf(withChange((doc) => {
      doc.policies[0].max_ttl = 0;
    }))).toEqual(['policies[0].max_ttl: must be positive']);
  });

  it('requires service_account for a kubernetes-tokenrequest target', () => {
    expect(issuesOf(withChange((doc) => {
      doc.targets.push({ name: 'argo-legacy', kind: 'kubernetes-tokenrequest', api_server: 'https://k8s.example.com:6443', credentials: 'env:K8S_TOKEN' });
      doc.policies[0].target = 'argo-legacy';
    }))).toEqual(['policies[0].service_account: required for kubernetes-tokenrequest target "argo-legacy"']);
  });

  it('refuses a delegation actor naming an unknown idp or binding no identity', () => {
    expect(issuesOf(withChange((doc) => {
      doc.policies[1].delegation = { actors: [{ idp: 'agents', subject: 'agent-7' }, { idp: 'keycloak' }] };
    }))).toEqual([
      'policies[1].delegation.actors[0].idp: no idp named "agents"',
      'policies[1].delegation.actors[1]: binds no identity; set subject, subject_pattern or claims',
    ]);
  });

  it('refuses duplicate idp names, target names and policy ids', () => {
    expect(issuesOf(withChange((doc) => {
      doc.idps[1].name = 'github';
      doc.targets[1].name = 'argo-prod';
      doc.policies[1].id = 'ci-main';
      doc.policies[1].idp = 'github';
      doc.policies[1].target = 'argo-prod';
    }))).toEqual([
      'idps[1].name: duplicate name "github"',
      'targets[1].name: duplicate name "argo-prod"',
      'policies[1].id: duplicate policy id "ci-main"',
    ]);
  });

  it('refuses two idps with the same issuer', () => {
    expect(issuesOf(withChange((doc) => {
      doc.idps[1].issuer = doc.idps[0].issuer;
    }))).toEqual(['idps[1].issuer: another idp already has this issuer']);
  });

  it('reports every problem at once, each with its path', () => {
    const issues = issuesOf(withChange((doc) => {
      doc.policies[0].subject_pattern = 'repo:acme/*';
      doc.policies[1].scopes = ['argo:everything'];
      doc.policies[1].idp = 'gitlab';
    }));
    expect(issues).toEqual([
      'policies[0]: set subject or subject_pattern, not both',
      'policies[1].idp: no idp named "gitlab"',
      'policies[1].scopes[0]: unknown scope "argo:everything"',
    ]);
  });

  it('puts every issue in the error message', () => {
    let error: unknown;
    try {
      parseConfig(withChange((doc) => {
        doc.policies[0].scopes = ['nope'];
      }));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain('policies[0].scopes[0]: unknown scope "nope"');
  });

  it('refuses a namespace that is not a Kubernetes name, naming its index', () => {
    expect(issuesOf(withChange((doc) => {
      doc.policies[0].namespaces = ['ci', 'Prod_NS'];
    }))).toEqual(['policies[0].namespaces[1]: must be a Kubernetes namespace name']);
  });
});

describe('parseConfig: the result is frozen', () => {
  function config(): Config {
    return parseConfig(withChange((doc) => {
      doc.policies[1].delegation = { actors: [{ idp: 'keycloak', subject: 'agent-7' }] };
    }));
  }

  it('freezes the config and everything in it', () => {
    const c = config();
    const objects: unknown[] = [
      c, c.signing, c.defaults, c.idps, c.idps[0], c.idps[0]!.audiences, c.targets, c.targets[0], c.policies, c.policies[0],
      c.policies[0]!.namespaces, c.policies[0]!.scopes, c.policies[0]!.targets, c.policies[1]!.claims, c.policies[1]!.delegation,
      c.policies[1]!.delegation!.actors[0], c.audit, c.diagnose, c.scopes, c.scopes.get('argo:read'), c.scopes.get('argo:read')!.rules,
    ];
    for (const object of objects) expect(Object.isFrozen(object)).toBe(true);
  });

  it('throws on an attempt to change a value', () => {
    const c = config() as any;
    expect(() => { c.issuer = 'https://evil.example.com'; }).toThrow(TypeError);
    expect(() => { c.policies[0].namespaces.push('kube-system'); }).toThrow(TypeError);
    expect(() => { c.policies[0].scopes[0] = 'k8s:edit'; }).toThrow(TypeError);
    expect(() => { c.defaults.max_ttl = 86400; }).toThrow(TypeError);
    expect(c.issuer).toBe('https://sts.example.com');
  });

  it('throws on an attempt to add, remove or clear scopes', () => {
    const c = config();
    const scopes = c.scopes as Map<string, unknown>;
    expect(() => scopes.set('cluster:admin', { rules: [] })).toThrow(TypeError);
    expect(() => scopes.delete('argo:read')).toThrow(TypeError);
    expect(() => scopes.clear()).toThrow(TypeError);
    expect([...c.scopes.keys()]).toEqual(['argo:read', 'argo:submit', 'argo:manage', 'k8s:view', 'k8s:edit']);
  });
});
