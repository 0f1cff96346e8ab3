/**
 * The real-consumer stack: `npm run stack -- up|down|build|restart-broker`.
 *
 * up: builds (cached under .stack/) etcd, kube-apiserver, kubectl and the argo CLI from their
 * published Go modules and fetches Keycloak's dist from Maven Central; then, all on 127.0.0.1,
 * generates a CA and certificates for this run, renders the cluster side with `argo-sts render`,
 * starts etcd, kube-apiserver (--authentication-config = a copy of the rendered file, which a test
 * may rewrite: the apiserver reloads it), applies the Argo
 * CRDs and the rendered RBAC, starts argo-sts behind a loopback TLS terminator, Argo Server in
 * client auth mode and Keycloak with infra/keycloak/realm-stack.json, and writes
 * .stack/stack.json. Every start is bounded; a failure prints the consumer's last log lines.
 * down: stops every process up started. restart-broker: restarts argo-sts (re-reading its
 * config and keys), as an operator rolls out a new key set.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair } from 'jose';
import { freePort } from '../support/free-port.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const STACK = join(ROOT, '.stack');
/**
 * What builds take long to make — the Go module and build caches, the built binaries (stamped by
 * their sources), the Argo source copy, the Maven repository and the Keycloak download — live in
 * ARGO_STS_STACK_CACHE when it is set (.ci/run sets it outside the clone, so a second clone on the
 * same machine starts warm), else in .stack/. Everything a run writes stays in .stack/.
 */
export const CACHE = process.env.ARGO_STS_STACK_CACHE ? resolve(process.env.ARGO_STS_STACK_CACHE) : STACK;
export const RUN = join(STACK, 'run');
export const BIN = join(CACHE, 'bin');
const LOGS = join(RUN, 'logs');
const PIDS = join(RUN, 'pids.json');
export const STACK_JSON = join(STACK, 'stack.json');
/** Facts beyond stack.json that the stack tests need (ports of the loopback CI issuer, files). */
export const STACK_EXTRA_JSON = join(RUN, 'stack-extra.json');

export const VERSIONS = { kubernetes: 'v1.37.2', etcd: 'v3.7.3', argo: 'v4.0.5', keycloak: '26.7.3' } as const;
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';
const REALM = 'stack';
const NAMESPACES = ['argo', 'argo-sts', 'ci', 'team-a', 'team-b'];

const goEnv = {
  ...process.env,
  GOMODCACHE: join(CACHE, 'go/mod'),
  GOCACHE: join(CACHE, 'go/cache'),
  GOPATH: join(CACHE, 'go/path'),
  GOFLAGS: '-modcacherw -buildvcs=false',
  GOTOOLCHAIN: 'local',
  GOTELEMETRY: 'off',
};

function log(message: string): void {
  process.stderr.write(`stack: ${message}\n`);
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

function lastLines(file: string, n = 40): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  return readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
}

class StackError extends Error {
  override name = 'StackError';
}

// ---------------------------------------------------------------------------------------------
// Build (cached)

interface GoBuild {
  readonly module: string;
  readonly outputs: readonly string[];
  readonly packages: readonly string[];
  readonly prepare?: () => void;
}

export const ARGO_SOURCE = join(CACHE, `src/argo-workflows-${VERSIONS.argo}`);

/**
 * The argo-workflows module zip has no ui/dist/app, which ui/embed.go embeds (the UI is built
 * with yarn). As upstream's Makefile does with STATIC_FILES=false, the stack builds without the
 * UI: a copy of the published module (test/stack/argo/go.mod replaces the module with it) plus an
 * empty ui/dist/app/index.html. No Go source is changed.
 */
function prepareArgoSource(): void {
  const marker = join(ARGO_SOURCE, 'ui/dist/app/index.html');
  if (existsSync(marker)) return;
  const download = spawnSync('go', ['mod', 'download', '-json', `github.com/argoproj/argo-workflows/v4@${VERSIONS.argo}`], { cwd: STACK, env: goEnv, encoding: 'utf8' });
  if (download.status !== 0) throw new StackError(`go mod download of argo-workflows ${VERSIONS.argo} failed: ${download.stdout}${download.stderr}`);
  const { Dir } = JSON.parse(download.stdout) as { Dir: string };
  rmSync(ARGO_SOURCE, { recursive: true, force: true });
  mkdirSync(dirname(ARGO_SOURCE), { recursive: true });
  execFileSync('cp', ['-r', Dir, ARGO_SOURCE]);
  execFileSync('chmod', ['-R', 'u+w', ARGO_SOURCE]);
  mkdirSync(dirname(marker), { recursive: true });
  writeFileSync(marker, '');
}

export const GO_BUILDS: readonly GoBuild[] = [
  { module: 'etcd', outputs: ['etcd'], packages: ['.'] },
  {
    module: 'kube',
    outputs: ['kube-apiserver', 'kube-controller-manager', 'kubectl'],
    packages: ['k8s.io/kubernetes/cmd/kube-apiserver', 'k8s.io/kubernetes/cmd/kube-controller-manager', 'k8s.io/kubernetes/cmd/kubectl'],
  },
  { module: 'argo', outputs: ['argo'], packages: ['github.com/argoproj/argo-workflows/v4/cmd/argo'], prepare: prepareArgoSource },
];

/** A hash of what a Go build depends on here: its module files, sources and the Go version. */
function goStamp(dir: string): string {
  const hash = createHash('sha256');
  hash.update(execFileSync('go', ['version'], { env: goEnv }));
  for (const name of readdirSync(dir).sort()) if (/\.(go|mod|sum)$/.test(name)) hash.update(name).update(readFileSync(join(dir, name)));
  return hash.digest('hex');
}

export function buildGo(build: GoBuild, stampOnly = false): void {
  build.prepare?.();
  const dir = join(ROOT, 'test/stack', build.module);
  const stampFile = join(BIN, `.${build.module}.stamp`);
  const stamp = goStamp(dir);
  if (build.outputs.every((o) => existsSync(join(BIN, o))) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return;
  if (stampOnly) {
    writeFileSync(stampFile, stamp);
    return;
  }
  const started = Date.now();
  const logFile = join(STACK, 'logs', `build-${build.module}.log`);
  log(`building ${build.outputs.join(', ')} (go build in test/stack/${build.module}; log ${logFile})`);
  const out = build.outputs.length === 1 ? join(BIN, build.outputs[0]!) : `${BIN}/`;
  const result = spawnSync('nice', ['-n', '10', 'go', 'build', '-trimpath', '-o', out, ...build.packages], { cwd: dir, env: goEnv, encoding: 'utf8', maxBuffer: 64 << 20 });
  writeFileSync(logFile, `${result.stdout ?? ''}${result.stderr ?? ''}`);
  if (result.status !== 0) throw new StackError(`go build in test/stack/${build.module} failed (exit ${result.status}):\n${lastLines(logFile)}`);
  writeFileSync(stampFile, stamp);
  log(`built ${build.outputs.join(', ')} in ${seconds(started)}`);
}

function keycloakHome(): string {
  return join(STACK, 'keycloak');
}

function buildKeycloak(): void {
  const home = keycloakHome();
  if (existsSync(join(home, 'version.txt')) && readFileSync(join(home, 'version.txt'), 'utf8').includes(`Version ${VERSIONS.keycloak}`)) return;
  const started = Date.now();
  const dl = join(CACHE, 'dl');
  const logFile = join(STACK, 'logs', 'build-keycloak.log');
  log(`fetching org.keycloak:keycloak-quarkus-dist:${VERSIONS.keycloak} from Maven Central (log ${logFile})`);
  const result = spawnSync('mvn', [
    '-B', '-q', `-Dmaven.repo.local=${join(CACHE, 'm2')}`, `${DEPENDENCY_PLUGIN}:copy`,
    `-Dartifact=org.keycloak:keycloak-quarkus-dist:${VERSIONS.keycloak}:tar.gz`, `-DoutputDirectory=${dl}`,
  ], { cwd: STACK, encoding: 'utf8', env: { ...process.env, JAVA_HOME: javaHome() } });
  writeFileSync(logFile, `${result.stdout ?? ''}${result.stderr ?? ''}`);
  if (result.status !== 0) throw new StackError(`mvn dependency:copy of keycloak-quarkus-dist failed (exit ${result.status}):\n${lastLines(logFile)}`);
  rmSync(home, { recursive: true, force: true });
  mkdirSync(home, { recursive: true });
  execFileSync('tar', ['-xzf', join(dl, `keycloak-quarkus-dist-${VERSIONS.keycloak}.tar.gz`), '-C', home, '--strip-components=1']);
  log(`fetched Keycloak ${VERSIONS.keycloak} in ${seconds(started)}`);
}

/** Keycloak 26 runs on Java 17 or later; the machine's OpenJDK 17 is the one checked here. */
function javaHome(): string {
  if (process.env.STACK_JAVA_HOME) return process.env.STACK_JAVA_HOME;
  for (const candidate of ['/usr/lib/jvm/java-21-openjdk-amd64', '/usr/lib/jvm/java-17-openjdk-amd64']) if (existsSync(join(candidate, 'bin/java'))) return candidate;
  const jvms = existsSync('/usr/lib/jvm') ? readdirSync('/usr/lib/jvm').map((d) => join('/usr/lib/jvm', d)).filter((d) => existsSync(join(d, 'bin/java'))) : [];
  if (!jvms[0]) throw new StackError('no JDK under /usr/lib/jvm (Keycloak needs Java 17 or later); set STACK_JAVA_HOME');
  return jvms[0];
}

export function build(): void {
  mkdirSync(BIN, { recursive: true });
  mkdirSync(join(STACK, 'logs'), { recursive: true });
  const started = Date.now();
  for (const b of GO_BUILDS) buildGo(b);
  buildKeycloak();
  log(`build: ${seconds(started)}`);
}

// ---------------------------------------------------------------------------------------------
// Processes

interface Pids { [name: string]: number }

function readPids(): Pids {
  return existsSync(PIDS) ? (JSON.parse(readFileSync(PIDS, 'utf8')) as Pids) : {};
}

function writePid(name: string, pid: number): void {
  writeFileSync(PIDS, JSON.stringify({ ...readPids(), [name]: pid }, null, 2));
}

function logFileOf(name: string): string {
  return join(LOGS, `${name}.log`);
}

/** Starts a consumer detached in its own process group, its stdout and stderr to its log. */
function startProcess(name: string, command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  mkdirSync(LOGS, { recursive: true });
  const fd = openSync(logFileOf(name), 'a');
  const child = spawn(command, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  if (child.pid === undefined) throw new StackError(`${name}: could not start ${command}`);
  child.unref();
  writePid(name, child.pid);
  return child;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopProcess(name: string, pid: number): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(100);
  if (alive(pid)) {
    log(`${name} (pid ${pid}) ignored SIGTERM for 10 s; killing it`);
    signal('SIGKILL');
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `ready` until it returns true, at most `timeoutMs`; else prints the consumer's log and fails. */
async function waitFor(name: string, child: ChildProcess | undefined, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
  const started = Date.now();
  let exited: number | null | undefined;
  child?.once('exit', (code) => {
    exited = code;
  });
  while (Date.now() - started < timeoutMs) {
    if (exited !== undefined) throw new StackError(`${name} exited (code ${exited}) before it was ready; its last log lines:\n${lastLines(logFileOf(name))}`);
    if (await ready().catch(() => false)) {
      log(`${name} ready in ${seconds(started)}`);
      return;
    }
    await sleep(500);
  }
  throw new StackError(`${name} not ready after ${timeoutMs / 1000} s; its last log lines:\n${lastLines(logFileOf(name))}`);
}


/** GET over https with the run's CA (and optionally the admin client certificate). */
export function httpsGet(url: string, tls: { ca: string; cert?: string; key?: string }, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: readFileSync(tls.ca), cert: tls.cert && readFileSync(tls.cert), key: tls.key && readFileSync(tls.key), headers, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// Certificates (openssl; one CA per run)

function openssl(args: readonly string[], input?: string): string {
  const result = spawnSync('openssl', args, { encoding: 'utf8', input });
  if (result.status !== 0) throw new StackError(`openssl ${args[0]} failed: ${result.stderr}`);
  return result.stdout;
}

interface Pki { ca: string; caKey: string; servingCert: string; servingKey: string; adminCert: string; adminKey: string; saKey: string; saPub: string }

function makePki(dir: string): Pki {
  mkdirSync(dir, { recursive: true });
  const f = (name: string) => join(dir, name);
  const ecKey = (path: string) => openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
  ecKey(f('ca.key'));
  openssl(['req', '-x509', '-new', '-key', f('ca.key'), '-subj', '/CN=argo-sts test stack CA', '-days', '2', '-out', f('ca.pem'),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const leaf = (name: string, subject: string, ext: string[]) => {
    ecKey(f(`${name}.key`));
    const csr = openssl(['req', '-new', '-key', f(`${name}.key`), '-subj', subject, ...ext.flatMap((e) => ['-addext', e])]);
    openssl(['x509', '-req', '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-days', '2', '-copy_extensions', 'copy',
      '-set_serial', `0x${randomBytes(12).toString('hex')}`, '-out', f(`${name}.pem`)], csr);
  };
  leaf('serving', '/CN=127.0.0.1', ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'extendedKeyUsage=serverAuth', 'keyUsage=critical,digitalSignature']);
  leaf('admin', '/O=system:masters/CN=stack-admin', ['extendedKeyUsage=clientAuth', 'keyUsage=critical,digitalSignature']);
  ecKey(f('sa.key'));
  openssl(['pkey', '-in', f('sa.key'), '-pubout', '-out', f('sa.pub')]);
  return { ca: f('ca.pem'), caKey: f('ca.key'), servingCert: f('serving.pem'), servingKey: f('serving.key'), adminCert: f('admin.pem'), adminKey: f('admin.key'), saKey: f('sa.key'), saPub: f('sa.pub') };
}

// ---------------------------------------------------------------------------------------------
// The broker's config for the stack

export interface Ports { etcd: number; etcdPeer: number; kube: number; controllerManager: number; argo: number; keycloak: number; keycloakManagement: number; broker: number; brokerTls: number; ciIdp: number }

export const TARGETS = { oidc: 'stack', otherAudience: 'elsewhere', tokenRequest: 'stack-tokenrequest' } as const;
export const KUBE_AUDIENCE = 'https://kubernetes.stack.test';
export const TOKENREQUEST_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

function brokerConfig(ports: Ports, files: { signingKeys: string; clusterToken: string; ca: string; audit: string }): string {
  return `# argo-sts config for the real-consumer stack (generated by test/stack/stack.ts per run)
issuer: https://127.0.0.1:${ports.brokerTls}
signing: { alg: ES256, keys: "file:${files.signingKeys}" }
defaults: { ttl: 10m, max_ttl: 1h, clock_skew: 60s }
idps:
  - name: keycloak
    issuer: http://127.0.0.1:${ports.keycloak}/realms/${REALM}
    audiences: [argo-sts]
    preset: keycloak
  - name: github
    issuer: http://127.0.0.1:${ports.ciIdp}
    audiences: [argo-sts]
    preset: github-actions
targets:
  - name: ${TARGETS.oidc}
    kind: kubernetes-oidc
    audience: ${KUBE_AUDIENCE}
    argo_server: https://127.0.0.1:${ports.argo}
  - name: ${TARGETS.otherAudience}
    kind: kubernetes-oidc
    audience: https://another-cluster.stack.test
  - name: ${TARGETS.tokenRequest}
    kind: kubernetes-tokenrequest
    api_server: https://127.0.0.1:${ports.kube}
    argo_server: https://127.0.0.1:${ports.argo}
    credentials: "file:${files.clusterToken}"
    ca: "file:${files.ca}"
    audiences: [${TOKENREQUEST_AUDIENCE}]
policies:
  - id: ci-main
    idp: github
    target: ${TARGETS.oidc}
    subject: repo:acme/app:ref:refs/heads/main
    claims: { repository_owner: acme }
    namespaces: [ci]
    scopes: [argo:submit, argo:read]
    max_ttl: 15m
  - id: ci-long-names
    idp: github
    target: ${TARGETS.oidc}
    subject_pattern: "repo:acme-platform-engineering/*"
    namespaces: [ci]
    scopes: [argo:submit]
  - id: ci-elsewhere
    idp: github
    target: ${TARGETS.otherAudience}
    subject: repo:acme/app:ref:refs/heads/main
    namespaces: [ci]
    scopes: [argo:read]
  - id: platform-engineers
    idp: keycloak
    target: ${TARGETS.oidc}
    claims: { groups: platform-engineers }
    namespaces: [team-a]
    scopes: [argo:manage, argo:submit, argo:read, k8s:view]
    delegation:
      actors:
        - { idp: keycloak, claims: { azp: agent-ci }, scopes: [argo:read] }
  - id: auditors
    idp: keycloak
    target: ${TARGETS.oidc}
    claims: { groups: auditors }
    namespaces: [team-a, team-b]
    scopes: [argo:read]
  - id: ci-tokenrequest
    idp: github
    target: ${TARGETS.tokenRequest}
    subject: repo:acme/app:ref:refs/heads/main
    namespaces: [ci]
    scopes: [argo:submit]
    service_account: argo-submitter
audit: { sink: "sqlite:${files.audit}" }
`;
}

// ---------------------------------------------------------------------------------------------
// up / down

function kubectl(kubeconfig: string, args: readonly string[], input?: string): string {
  const result = spawnSync(join(BIN, 'kubectl'), ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input, maxBuffer: 64 << 20 });
  if (result.status !== 0) throw new StackError(`kubectl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

function adminKubeconfig(ports: Ports, pki: Pki): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: stack
  cluster: { server: "https://127.0.0.1:${ports.kube}", certificate-authority: "${pki.ca}" }
users:
- name: stack-admin
  user: { client-certificate: "${pki.adminCert}", client-key: "${pki.adminKey}" }
contexts:
- name: stack
  context: { cluster: stack, user: stack-admin }
current-context: stack
`;
}

function tokenKubeconfig(ports: Ports, pki: Pki, token: string): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: stack
  cluster: { server: "https://127.0.0.1:${ports.kube}", certificate-authority: "${pki.ca}" }
users:
- name: service-account
  user: { token: "${token}" }
contexts:
- name: stack
  context: { cluster: stack, user: service-account }
current-context: stack
`;
}

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
`;

function npmCli(args: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
  const result = spawnSync('npm', ['run', '--silent', 'cli', '--', ...args], { cwd: ROOT, encoding: 'utf8', env });
  if (result.status !== 0) throw new StackError(`argo-sts ${args[0]} failed (exit ${result.status}): ${result.stderr}`);
  return result.stdout;
}

function startBroker(configFile: string, ports: Ports, pki: Pki): ChildProcess {
  startProcess('tls-proxy', process.execPath, [join(ROOT, 'test/stack/tls-proxy.ts'), String(ports.brokerTls), String(ports.broker), pki.servingCert, pki.servingKey]);
  return startProcess('argo-sts', 'npm', ['start', '--silent'], {
    env: { ...process.env, ARGO_STS_CONFIG_FILE: configFile, HOST: '127.0.0.1', PORT: String(ports.broker), NODE_EXTRA_CA_CERTS: pki.ca },
  });
}

async function waitForBroker(child: ChildProcess | undefined, ports: Ports, pki: Pki): Promise<void> {
  await waitFor('argo-sts', child, 60_000, async () => (await httpsGet(`https://127.0.0.1:${ports.brokerTls}/healthz`, { ca: pki.ca })).status === 200);
}

export async function up(): Promise<void> {
  const started = Date.now();
  await down();
  rmSync(RUN, { recursive: true, force: true });
  mkdirSync(LOGS, { recursive: true });
  build();
  const upStarted = Date.now();

  const ports: Ports = {
    etcd: await freePort(), etcdPeer: await freePort(), kube: await freePort(), controllerManager: await freePort(), argo: await freePort(), keycloak: await freePort(),
    keycloakManagement: await freePort(), broker: await freePort(), brokerTls: await freePort(), ciIdp: await freePort(),
  };
  const pki = makePki(join(RUN, 'pki'));

  // Keycloak is the slowest to start: first, and waited for last.
  const kcHome = keycloakHome();
  rmSync(join(kcHome, 'data'), { recursive: true, force: true });
  mkdirSync(join(kcHome, 'data/import'), { recursive: true });
  writeFileSync(join(kcHome, 'data/import/realm-stack.json'), readFileSync(join(ROOT, 'infra/keycloak/realm-stack.json')));
  const keycloakAdmin = { user: 'stack-admin', password: randomBytes(18).toString('base64url') };
  const keycloak = startProcess('keycloak', join(kcHome, 'bin/kc.sh'), [
    'start-dev', '--import-realm', '--http-host=127.0.0.1', `--http-port=${ports.keycloak}`, `--http-management-port=${ports.keycloakManagement}`, '--health-enabled=true',
  ], { env: { ...process.env, JAVA_HOME: javaHome(), KC_BOOTSTRAP_ADMIN_USERNAME: keycloakAdmin.user, KC_BOOTSTRAP_ADMIN_PASSWORD: keycloakAdmin.password } });

  // The loopback GitHub-shaped CI issuer: its private key stays in a file for the tests.
  const ciDir = join(RUN, 'ci-idp');
  mkdirSync(ciDir, { recursive: true });
  const ciKey = await generateKeyPair('RS256', { extractable: true });
  const ciKid = `ci-${randomBytes(4).toString('hex')}`;
  writeFileSync(join(ciDir, 'private.jwk'), JSON.stringify({ ...(await exportJWK(ciKey.privateKey)), kid: ciKid, alg: 'RS256' }), { mode: 0o600 });
  writeFileSync(join(ciDir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(ciKey.publicKey)), kid: ciKid, alg: 'RS256', use: 'sig' }] }));
  const ciIdp = startProcess('ci-idp', process.execPath, [join(ROOT, 'test/stack/ci-idp.ts'), String(ports.ciIdp), join(ciDir, 'jwks.json')]);

  // The broker's config and keys; the cluster side rendered from that same config.
  const brokerDir = join(RUN, 'broker');
  mkdirSync(brokerDir, { recursive: true });
  const signingKeys = join(brokerDir, 'signing.jwks.json');
  writeFileSync(signingKeys, npmCli(['keys', 'generate', '--alg', 'ES256']), { mode: 0o600 });
  const clusterToken = join(brokerDir, 'cluster-token');
  const configFile = join(brokerDir, 'argo-sts.yaml');
  writeFileSync(configFile, brokerConfig(ports, { signingKeys, clusterToken, ca: pki.ca, audit: join(brokerDir, 'audit.db') }));
  const rendered = join(RUN, 'rendered');
  npmCli(['render', '--config', configFile, '--out', rendered, '--k8s-version', VERSIONS.kubernetes.slice(1), '--issuer-ca', pki.ca]);

  const etcd = startProcess('etcd', join(BIN, 'etcd'), [
    '--name', 'stack', '--data-dir', join(RUN, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${ports.etcd}`, '--advertise-client-urls', `http://127.0.0.1:${ports.etcd}`,
    '--listen-peer-urls', `http://127.0.0.1:${ports.etcdPeer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${ports.etcdPeer}`,
    '--initial-cluster', `stack=http://127.0.0.1:${ports.etcdPeer}`, '--log-level', 'warn',
  ]);
  await waitFor('etcd', etcd, 60_000, async () => (await (await fetch(`http://127.0.0.1:${ports.etcd}/health`)).json() as { health: string }).health === 'true');

  const kubeDir = join(RUN, 'kube');
  mkdirSync(kubeDir, { recursive: true });
  writeFileSync(join(kubeDir, 'audit-policy.yaml'), AUDIT_POLICY);
  // The apiserver runs a copy of what render wrote: a test may add authenticators or change its
  // apiVersion (kube-apiserver reloads the file), and the rendered file stays as render wrote it.
  const authenticationConfig = join(kubeDir, 'authentication-config.yaml');
  writeFileSync(authenticationConfig, readFileSync(join(rendered, TARGETS.oidc, 'authentication-config.yaml')));
  const kube = startProcess('kube-apiserver', join(BIN, 'kube-apiserver'), [
    '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${ports.kube}`,
    `--etcd-servers=http://127.0.0.1:${ports.etcd}`,
    `--tls-cert-file=${pki.servingCert}`, `--tls-private-key-file=${pki.servingKey}`, `--client-ca-file=${pki.ca}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local', `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`, '--api-audiences=https://kubernetes.default.svc.cluster.local',
    '--service-cluster-ip-range=10.96.0.0/24', '--endpoint-reconciler-type=none', '--authorization-mode=RBAC',
    `--authentication-config=${authenticationConfig}`,
    `--audit-policy-file=${join(kubeDir, 'audit-policy.yaml')}`, `--audit-log-path=${join(kubeDir, 'audit.log')}`,
    '--profiling=false', '--v=2',
  ]);
  const kubeconfig = join(kubeDir, 'admin.kubeconfig');
  writeFileSync(kubeconfig, adminKubeconfig(ports, pki), { mode: 0o600 });
  const adminTls = { ca: pki.ca, cert: pki.adminCert, key: pki.adminKey };
  await waitFor('kube-apiserver', kube, 180_000, async () => (await httpsGet(`https://127.0.0.1:${ports.kube}/readyz`, adminTls)).status === 200);

  // Only the controllers whose work the cluster side relies on: the aggregated ClusterRoles that
  // k8s:view and k8s:edit bind (view, edit are filled by clusterrole-aggregation) and the token of
  // the broker's rendered ServiceAccount Secret.
  const controllerManager = startProcess('kube-controller-manager', join(BIN, 'kube-controller-manager'), [
    `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1', `--secure-port=${ports.controllerManager}`, '--leader-elect=false',
    '--controllers=clusterrole-aggregation-controller,serviceaccount-token-controller,serviceaccount-controller', '--use-service-account-credentials=false',
    `--service-account-private-key-file=${pki.saKey}`, `--root-ca-file=${pki.ca}`,
    `--tls-cert-file=${pki.servingCert}`, `--tls-private-key-file=${pki.servingKey}`,
  ]);
  await waitFor('kube-controller-manager', controllerManager, 120_000, async () => (await httpsGet(`https://127.0.0.1:${ports.controllerManager}/healthz`, { ca: pki.ca })).status === 200);

  // The cluster side: namespaces, Argo's CRDs, what render wrote, the broker's own token.
  let applied = Date.now();
  const step = (what: string) => {
    log(`${what}: ${seconds(applied)}`);
    applied = Date.now();
  };
  kubectl(kubeconfig, ['apply', '-f', '-'], NAMESPACES.map((n) => `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${n} }\n`).join('---\n'));
  const crds = join(ARGO_SOURCE, 'manifests/base/crds/full');
  kubectl(kubeconfig, ['apply', '--server-side', ...readdirSync(crds).filter((f) => /^argoproj\.io_.*\.yaml$/.test(f)).flatMap((f) => ['-f', join(crds, f)])]);
  kubectl(kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  step('namespaces and Argo CRDs');
  for (const file of [`${TARGETS.oidc}/rbac.yaml`, `${TARGETS.tokenRequest}/service-accounts.yaml`, `${TARGETS.tokenRequest}/broker-access.yaml`]) {
    kubectl(kubeconfig, ['apply', '-f', join(rendered, file)]);
  }
  // The broker's credential, as docs/cluster-setup.md has the operator read it: the token the
  // controller manager wrote into the rendered Secret.
  await waitFor('kube-controller-manager', controllerManager, 60_000, async () => {
    const token = spawnSync(join(BIN, 'kubectl'), ['--kubeconfig', kubeconfig, '-n', 'argo-sts', 'get', 'secret', 'argo-sts-token', '-o', 'jsonpath={.data.token}'], { encoding: 'utf8' }).stdout;
    if (!token) return false;
    writeFileSync(clusterToken, Buffer.from(token, 'base64').toString('utf8'), { mode: 0o600 });
    return true;
  });
  kubectl(kubeconfig, ['-n', 'argo', 'create', 'secret', 'tls', 'argo-server-tls', `--cert=${pki.servingCert}`, `--key=${pki.servingKey}`]);
  // Argo Server reads the workflow controller's ConfigMap at start (no controller runs here).
  kubectl(kubeconfig, ['-n', 'argo', 'create', 'configmap', 'workflow-controller-configmap']);
  // Argo Server's own identity, as Argo's cluster install gives it: its ServiceAccount and ClusterRole.
  const argoManifests = join(ARGO_SOURCE, 'manifests');
  kubectl(kubeconfig, ['-n', 'argo', 'apply', '-f', join(argoManifests, 'base/argo-server/argo-server-sa.yaml'), '-f', join(argoManifests, 'cluster-install-no-crds/argo-server-rbac/argo-server-clusterole.yaml')]);
  // Argo's cluster install also aggregates workflow permissions into Kubernetes' view/edit/admin.
  kubectl(kubeconfig, ['apply', '-f', join(argoManifests, 'cluster-install-no-crds/workflow-controller-rbac/workflow-aggregate-roles.yaml')]);
  kubectl(kubeconfig, ['create', 'clusterrolebinding', 'argo-server-binding', '--clusterrole=argo-server-cluster-role', '--serviceaccount=argo:argo-server']);
  // The aggregated view role (k8s:view) has Argo's rules once the controller has run.
  await waitFor('kube-controller-manager', controllerManager, 60_000, async () =>
    kubectl(kubeconfig, ['get', 'clusterrole', 'view', '-o', 'jsonpath={.rules}']).includes('"workflows"'));
  const argoServerKubeconfig = join(kubeDir, 'argo-server.kubeconfig');
  writeFileSync(argoServerKubeconfig, tokenKubeconfig(ports, pki, kubectl(kubeconfig, ['-n', 'argo', 'create', 'token', 'argo-server', '--duration=24h']).trim()), { mode: 0o600 });
  step('rendered RBAC, the broker\'s token, Argo Server\'s TLS secret');

  const broker = startBroker(configFile, ports, pki);
  await waitFor('ci-idp', ciIdp, 30_000, async () => (await fetch(`http://127.0.0.1:${ports.ciIdp}/.well-known/openid-configuration`)).ok);
  await waitForBroker(broker, ports, pki);

  // In client mode Argo Server calls the API with each caller's bearer token, on the host and CA
  // of its default kubeconfig (KUBECONFIG; util/kubeconfig drops that kubeconfig's own credentials).
  const argo = startProcess('argo-server', join(BIN, 'argo'), [
    'server', '--auth-mode=client', '--secure=true', '--tls-certificate-secret-name=argo-server-tls', `--port=${ports.argo}`,
    '--namespace', 'argo', '--hsts=false', '--loglevel=info',
  ], { env: { ...process.env, KUBECONFIG: argoServerKubeconfig } });
  await waitFor('argo-server', argo, 120_000, async () => [200, 401].includes((await httpsGet(`https://127.0.0.1:${ports.argo}/api/v1/version`, { ca: pki.ca })).status));

  await waitFor('keycloak', keycloak, 300_000, async () => (await fetch(`http://127.0.0.1:${ports.keycloak}/realms/${REALM}/.well-known/openid-configuration`)).ok);

  writeFileSync(STACK_JSON, `${JSON.stringify({
    kube: { server: `https://127.0.0.1:${ports.kube}`, ca_file: pki.ca, admin_kubeconfig: kubeconfig },
    argo: { server: `https://127.0.0.1:${ports.argo}`, ca_file: pki.ca },
    keycloak: { url: `http://127.0.0.1:${ports.keycloak}`, realm: REALM, admin_user: keycloakAdmin.user, admin_password: keycloakAdmin.password },
    broker: { url: `https://127.0.0.1:${ports.brokerTls}`, ca_file: pki.ca, config_file: configFile },
  }, null, 2)}\n`, { mode: 0o600 });
  writeFileSync(STACK_EXTRA_JSON, `${JSON.stringify({
    ports,
    ci_idp: { issuer: `http://127.0.0.1:${ports.ciIdp}`, private_jwk_file: join(ciDir, 'private.jwk'), jwks_file: join(ciDir, 'jwks.json') },
    broker: { signing_keys_file: signingKeys, audit_db: join(brokerDir, 'audit.db'), log: logFileOf('argo-sts') },
    kube: { audit_log: join(kubeDir, 'audit.log'), log: logFileOf('kube-apiserver'), rendered, authentication_config: authenticationConfig },
    bin: BIN,
    versions: VERSIONS,
  }, null, 2)}\n`);
  log(`up in ${seconds(started)} (${seconds(upStarted)} after the build); ${STACK_JSON}`);
}

/** Restarts argo-sts behind the same TLS address (it re-reads its config and keys). */
export async function restartBroker(): Promise<void> {
  const pids = readPids();
  const extra = JSON.parse(readFileSync(STACK_EXTRA_JSON, 'utf8')) as { ports: Ports };
  const stack = JSON.parse(readFileSync(STACK_JSON, 'utf8')) as { broker: { config_file: string; ca_file: string } };
  if (pids['argo-sts']) await stopProcess('argo-sts', pids['argo-sts']);
  const pki = { ca: stack.broker.ca_file } as Pki;
  const child = startProcess('argo-sts', 'npm', ['start', '--silent'], {
    env: { ...process.env, ARGO_STS_CONFIG_FILE: stack.broker.config_file, HOST: '127.0.0.1', PORT: String(extra.ports.broker), NODE_EXTRA_CA_CERTS: pki.ca },
  });
  await waitForBroker(child, extra.ports, pki);
}

export async function down(): Promise<void> {
  const pids = readPids();
  // Clients first (they would log the servers' going away), then all the rest together.
  for (const name of ['argo-server', 'argo-sts', 'tls-proxy']) if (pids[name]) await stopProcess(name, pids[name]);
  await Promise.all(Object.entries(pids).filter(([name]) => !['argo-server', 'argo-sts', 'tls-proxy'].includes(name)).map(([name, pid]) => stopProcess(name, pid)));
  rmSync(PIDS, { force: true });
  rmSync(STACK_JSON, { force: true });
  if (Object.keys(pids).length) log(`stopped ${Object.keys(pids).join(', ')}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const command = process.argv[2];
  const run = { up, down, build: async () => build(), 'restart-broker': restartBroker }[command ?? ''];
  if (!run) {
    process.stderr.write('usage: npm run stack -- up|down|build|restart-broker\n');
    process.exit(2);
  }
  run().catch(async (err: unknown) => {
    process.stderr.write(`stack: ${err instanceof StackError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    if (command === 'up') await down();
    process.exit(1);
  });
}
