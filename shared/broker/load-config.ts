/**
 * Loading a configuration, as both runtimes and the CLI do at start-up: read the document, check
 * it against the schema and its cross-part rules (config/), compile the policies (policy/), let
 * each idp's preset check its provider's shapes (verify/presets/), freeze it, and run every
 * policy's `examples` against the result. Every problem found before the examples is reported
 * at once, each with its path; a broken example is reported after, since it needs a whole config.
 */
import { checkConfigDocument, ConfigError, deepFreeze, readConfigText } from '../config/parse-config.ts';
import type { Config } from '../config/schema.ts';
import { compilePolicyIssues, runPolicyExamples } from '../policy/compile-policy.ts';
import { checkIdpPreset } from '../verify/presets/index.ts';

/** Parses a YAML or JSON document (JSON is YAML) into a validated, compiled, frozen config. */
export function parseConfigText(text: string): Config {
  return parseConfig(readConfigText(text));
}

/** The same for a document already read (an object from JSON, a test's literal). */
export function parseConfig(doc: unknown): Config {
  const { parsed, config, issues } = checkConfigDocument(doc);
  const all = [
    ...issues,
    ...compilePolicyIssues(parsed.policies),
    ...parsed.idps.flatMap((idp, i) => checkIdpPreset(idp, `idps[${i}]`)),
  ];
  if (all.length) throw new ConfigError(all);
  const frozen = deepFreeze(config);
  const failures = runPolicyExamples(frozen, parsed.policies);
  if (failures.length) throw new ConfigError(failures);
  return frozen;
}
