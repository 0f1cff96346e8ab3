/** Where the Node runtime finds its config: ARGO_STS_CONFIG (inline) first, then ARGO_STS_CONFIG_FILE. */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../shared/config/parse-config.ts';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { type Config } from '../../shared/config/schema.ts';

export function loadNodeConfig(env: NodeJS.ProcessEnv): Config {
  const inline = env.ARGO_STS_CONFIG;
  if (inline !== undefined && inline.trim() !== '') return parseConfigText(inline);
  const file = env.ARGO_STS_CONFIG_FILE;
  if (file === undefined || file === '') {
    throw new ConfigError(['(source): set ARGO_STS_CONFIG (the document) or ARGO_STS_CONFIG_FILE (its path)']);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`(source): cannot read ARGO_STS_CONFIG_FILE ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`]);
  }
  return parseConfigText(text);
}
