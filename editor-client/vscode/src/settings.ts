// Tailor's settings (DESIGN.md, Contracts: Settings) and their mapping from VS Code's flat
// `tailor.*` configuration keys to the nested camelCase object the server expects.
// No `vscode` import here: unit-tested with node --test.

export type SettingType = 'string' | 'boolean' | 'number' | 'integer' | 'array';

export interface SettingSpec {
  /** Dotted key under `tailor.` (and the nested path sent to the server). */
  key: string;
  type: SettingType;
  default: unknown;
  description: string;
  enum?: string[];
  minimum?: number;
}

/** Settings sent to the server, in DESIGN.md's order. */
export const SERVER_SETTINGS: SettingSpec[] = [
  { key: 'model', type: 'string', default: 'smollm2-135m-instruct', description: 'Base model spec: a catalogue alias, a local Hugging Face directory, a GGUF file, or a hub id (where a network exists).' },
  { key: 'backend', type: 'string', default: 'auto', enum: ['auto', 'torch', 'onnxruntime'], description: 'Inference backend.' },
  { key: 'completion.enable', type: 'boolean', default: true, description: 'Inline completion on.' },
  { key: 'completion.maxPromptTokens', type: 'integer', default: 1024, minimum: 1, description: 'Prompt budget in tokens (prefix + repository context).' },
  { key: 'completion.maxNewTokens', type: 'integer', default: 64, minimum: 1, description: 'Cap on generated tokens per suggestion.' },
  { key: 'completion.multiline', type: 'string', default: 'auto', enum: ['auto', 'always', 'never'], description: 'Whether suggestions may span several lines.' },
  { key: 'completion.timeoutMs', type: 'integer', default: 3000, minimum: 1, description: 'Generation time cap in milliseconds.' },
  { key: 'adapters.enable', type: 'boolean', default: true, description: "Use the repository's LoRA adapter when it beats the base model." },
  { key: 'adapters.maxLoaded', type: 'integer', default: 4, minimum: 1, description: 'Adapters kept loaded (least recently used are unloaded).' },
  { key: 'training.budget', type: 'string', default: '10m', description: 'Default training budget: 90s, 10m, 1h, or 200k-tokens.' },
  { key: 'diagnostics.enable', type: 'boolean', default: false, description: "Publish Tailor's own syntax/lint diagnostics." },
  { key: 'repair.candidates', type: 'integer', default: 3, minimum: 1, description: 'Fixes generated per repair request.' },
  { key: 'repair.timeoutMs', type: 'integer', default: 90000, minimum: 1000, description: 'Time limit for generating repair candidates (ms).' },
  { key: 'commit.maxPromptTokens', type: 'integer', default: 1536, minimum: 128, description: 'Prompt budget for commit messages: the file list, then whole diff hunks by priority.' },
  { key: 'commit.maxNewTokens', type: 'integer', default: 96, minimum: 8, description: 'Longest commit message the model may write (tokens).' },
  { key: 'commit.timeoutMs', type: 'integer', default: 60000, minimum: 1000, description: 'Time limit for writing a commit message (ms).' },
  { key: 'perf.enable', type: 'boolean', default: true, description: 'On-save hints predicting whether an edit made a function slower or faster.' },
  { key: 'perf.threshold', type: 'number', default: 1.5, minimum: 1, description: 'Smallest predicted ratio (either direction) that is reported.' },
  { key: 'perf.measure', type: 'boolean', default: false, description: "Allow timing the user's own functions in a sandbox." },
  { key: 'selector.enable', type: 'boolean', default: true, description: 'Background ranking of candidate base models.' },
  { key: 'selector.autoSwitch', type: 'boolean', default: false, description: 'Switch the base model without asking.' },
  { key: 'selector.latencyBudgetMs', type: 'integer', default: 500, minimum: 0, description: 'Latency a candidate model may cost per suggestion.' },
  { key: 'selector.candidates', type: 'array', default: [], description: 'Extra model specs to rank (hub ids where a network exists).' },
  { key: 'selector.idleSeconds', type: 'integer', default: 30, minimum: 1, description: 'No request for this long counts as idle.' },
  { key: 'selector.fineTunes', type: 'integer', default: 0, minimum: 0, description: 'Real LoRA fine-tunes one background ranking may run (3 or more lets successive halving compare candidates).' },
  { key: 'selector.finalists', type: 'integer', default: 0, minimum: 0, description: 'Candidates, best by the cheap proxies, that also get the expensive proxies (LogME, LoRA probe, exact match) and the learned predictor.' },
  { key: 'selector.trainBudget', type: 'string', default: '50000-tokens', description: 'One full fine-tune of the ranking (90s, 10m or 50000-tokens).' },
  { key: 'telemetry.enable', type: 'boolean', default: true, description: 'Local acceptance records (they never leave the machine).' },
  { key: 'logLevel', type: 'string', default: 'info', enum: ['debug', 'info', 'warning', 'error'], description: 'Server log level.' },
];

/** Settings only the extension reads (never sent to the server). */
export const CLIENT_SETTINGS: SettingSpec[] = [
  { key: 'serverPath', type: 'string', default: 'tailor', description: 'The tailor executable: a command on PATH or an absolute path (e.g. ~/.venvs/tailor/bin/tailor). The extension runs `<serverPath> serve`.' },
];

/**
 * Build the server's settings object from a reader of VS Code's configuration.
 * `read(key)` returns the value the user set for `tailor.<key>`, or undefined when unset;
 * unset keys are left out, so that the server's own defaults apply.
 */
export function buildServerSettings(read: (key: string) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of SERVER_SETTINGS) {
    const value = read(spec.key);
    if (value === undefined || value === null) {
      continue;
    }
    setPath(out, spec.key, value);
  }
  return out;
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = node[parts[i]];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      node[parts[i]] = {};
    }
    node = node[parts[i]] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

/** The server command line from the `tailor.serverPath` setting. */
export function serverCommand(serverPath: unknown, home?: string): { command: string; args: string[] } {
  let command = typeof serverPath === 'string' && serverPath.trim() !== '' ? serverPath.trim() : 'tailor';
  if (home && (command === '~' || command.startsWith('~/'))) {
    command = home + command.slice(1);
  }
  return { command, args: ['serve'] };
}

/** `contributes.configuration.properties` for package.json, generated from the specs. */
export function contributedProperties(): Record<string, Record<string, unknown>> {
  const props: Record<string, Record<string, unknown>> = {};
  for (const spec of [...CLIENT_SETTINGS, ...SERVER_SETTINGS]) {
    const p: Record<string, unknown> = {
      type: spec.type,
      default: spec.default,
      description: spec.description,
    };
    if (spec.enum) p.enum = spec.enum;
    if (spec.minimum !== undefined) p.minimum = spec.minimum;
    if (spec.type === 'array') p.items = { type: 'string' };
    if (CLIENT_SETTINGS.includes(spec)) p.scope = 'machine-overridable';
    props[`tailor.${spec.key}`] = p;
  }
  return props;
}
