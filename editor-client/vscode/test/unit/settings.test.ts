import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { buildServerSettings, contributedProperties, SERVER_SETTINGS, serverCommand } from '../../src/settings';

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../package.json'), 'utf8'));

// The keys of DESIGN.md's Settings table, with their defaults.
const CONTRACT: Record<string, unknown> = {
  model: 'smollm2-135m-instruct',
  backend: 'auto',
  'completion.enable': true,
  'completion.maxPromptTokens': 1024,
  'completion.maxNewTokens': 64,
  'completion.multiline': 'auto',
  'completion.timeoutMs': 3000,
  'adapters.enable': true,
  'adapters.maxLoaded': 4,
  'training.budget': '10m',
  'diagnostics.enable': false,
  'repair.candidates': 3,
  'repair.timeoutMs': 90000,
  'commit.maxPromptTokens': 1536,
  'commit.maxNewTokens': 96,
  'commit.timeoutMs': 60000,
  'perf.enable': true,
  'perf.threshold': 1.5,
  'perf.measure': false,
  'selector.enable': true,
  'selector.autoSwitch': false,
  'selector.latencyBudgetMs': 500,
  'selector.candidates': [],
  'selector.idleSeconds': 30,
  'selector.fineTunes': 0,
  'selector.finalists': 0,
  'selector.trainBudget': '50000-tokens',
  'telemetry.enable': true,
  logLevel: 'info',
};

test('every contract setting is mirrored with its default', () => {
  const specs = Object.fromEntries(SERVER_SETTINGS.map((s) => [s.key, s.default]));
  assert.deepEqual(specs, CONTRACT);
});

test('unset settings are left out; set ones are nested camelCase', () => {
  const values: Record<string, unknown> = {
    model: '/models/my-model',
    'completion.maxNewTokens': 32,
    'completion.multiline': 'never',
    'selector.candidates': ['a', 'b'],
    'perf.threshold': 2,
    serverPath: '/x/tailor',
  };
  const out = buildServerSettings((k) => values[k]);
  assert.deepEqual(out, {
    model: '/models/my-model',
    completion: { maxNewTokens: 32, multiline: 'never' },
    selector: { candidates: ['a', 'b'] },
    perf: { threshold: 2 },
  });
});

test('nothing set gives an empty object (server defaults apply)', () => {
  assert.deepEqual(buildServerSettings(() => undefined), {});
});

test('false and 0 are kept', () => {
  const out = buildServerSettings((k) => (k === 'completion.enable' ? false : k === 'selector.latencyBudgetMs' ? 0 : undefined));
  assert.deepEqual(out, { completion: { enable: false }, selector: { latencyBudgetMs: 0 } });
});

test('server command from tailor.serverPath', () => {
  assert.deepEqual(serverCommand(undefined), { command: 'tailor', args: ['serve'] });
  assert.deepEqual(serverCommand('  '), { command: 'tailor', args: ['serve'] });
  assert.deepEqual(serverCommand('/opt/t/bin/tailor'), { command: '/opt/t/bin/tailor', args: ['serve'] });
  assert.deepEqual(serverCommand('~/venv/bin/tailor', '/home/u'), { command: '/home/u/venv/bin/tailor', args: ['serve'] });
});

test('package.json contributes.configuration is in step with src/settings.ts (npm run sync:package)', () => {
  assert.deepEqual(pkg.contributes.configuration.properties, contributedProperties());
  assert.equal(pkg.contributes.configuration.properties['tailor.serverPath'].default, 'tailor');
});
