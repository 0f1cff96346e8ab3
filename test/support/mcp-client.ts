/** `npx argo-sts mcp ARGS` from this checkout, connected as an agent connects: the MCP SDK's stdio client. */
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `home` is the server's HOME (nothing of the caller's leaks in); `env` adds to PATH and HOME. */
export async function connectArgoStsMcp(name: string, args: readonly string[], home: string, env: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(new StdioClientTransport({
    command: 'npx',
    args: ['argo-sts', 'mcp', ...args],
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH!, HOME: home, ...env },
    stderr: 'pipe',
  }));
  return client;
}
