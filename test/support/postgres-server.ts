/**
 * A real PostgreSQL server for a test file: Debian's binaries (/usr/lib/postgresql/<version>/bin,
 * installed by .ci/setup), a cluster made by initdb in a temporary directory, started by pg_ctl on
 * a free loopback port (listen_addresses 127.0.0.1, no other address), password authentication
 * over TCP. PostgreSQL refuses to run as root, so as root (CI) every server command runs as the
 * `postgres` user through runuser and the directory is handed to it. `stop()` and `start()` take the
 * server down and up again on the same port and data (for outage tests); `close()` stops it and
 * removes the directory.
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.ts';

const run = promisify(execFile);

/** Upper bounds of each server command; they only bound a failure. */
export const POSTGRES_LIMITS = { commandMs: 60_000, startSeconds: 30 } as const;

export interface PostgresServer {
  /** postgres://USER:PASSWORD@127.0.0.1:PORT/DB — a secret, as an operator's would be: never print it. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Stops the server (`pg_ctl stop -m fast`: open connections are closed). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Runs SQL through psql as the superuser; returns stdout (unaligned, tuples only). */
  psql(sql: string): Promise<string>;
  close(): Promise<void>;
}

/** The newest installed PostgreSQL's bin directory, or undefined. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}


async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  return { uid, gid };
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed: .ci/setup installs Debian\'s postgresql package (apt-get install -y postgresql)');
  const asUser = await postgresUser();
  const dir = mkdtempSync(join(tmpdir(), 'argo-sts-pg-'));
  const dataDir = join(dir, 'data');
  const password = crypto.randomUUID();
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (asUser) {
    chownSync(dir, asUser.uid, asUser.gid);
    chownSync(pwfile, asUser.uid, asUser.gid);
  }
  const exec = async (command: string, args: readonly string[]) => {
    const [file, argv] = asUser ? ['runuser', ['-u', 'postgres', '--', join(bin, command), ...args]] : [join(bin, command), [...args]];
    return run(file, argv, { timeout: POSTGRES_LIMITS.commandMs, cwd: dir, env: { ...process.env, LC_ALL: 'C.UTF-8', PGPASSWORD: password } });
  };
  const port = await freePort();
  const user = 'argo_sts';
  await exec('initdb', ['-D', dataDir, '-U', user, '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-sync']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=60 -c fsync=on`;
  const start = async () => {
    await exec('pg_ctl', ['-D', dataDir, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', String(POSTGRES_LIMITS.startSeconds), 'start']);
  };
  const stop = async () => {
    await exec('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', '-t', String(POSTGRES_LIMITS.startSeconds), 'stop']);
  };
  await start();
  let running = true;
  return {
    url: `postgres://${user}:${password}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    async stop() {
      await stop();
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    async psql(sql) {
      const { stdout } = await exec('psql', ['-h', dir, '-p', String(port), '-U', user, '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-Atc', sql]);
      return stdout;
    },
    async close() {
      try {
        if (running) await stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
