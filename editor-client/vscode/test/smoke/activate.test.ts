// Smoke test of the bundled extension (dist/extension.js) inside a mock `vscode` module:
// activation starts the server (TAILOR_SERVER, default the fake tests/clients/fake-tailor),
// sends the settings, registers the inline provider (with LSP 3.18 trigger kinds and the
// tailor.accepted forwarding), feeds the status bar from tailor/status, and runs commands.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
import Module = require('node:module');

import * as vscode from './vscode-mock';

const mock = vscode.asModule(vscode as unknown as Record<string, unknown>);
const EXT_ROOT = path.resolve(__dirname, '../../..');
const SERVER = process.env.TAILOR_SMOKE_SERVER || path.resolve(EXT_ROOT, '../../tests/clients/fake-tailor');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
let ext: any;
const subscriptions: { dispose(): unknown }[] = [];
let dir: string;

async function waitFor<T>(fn: () => T | undefined | false, ms: number, what: string): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function poll<T>(fn: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function token() {
  return new vscode.CancellationTokenSource().token;
}

before(async () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const M = Module as any;
  const load = M._load;
  M._load = function (request: string, ...rest: unknown[]) {
    if (request === 'vscode') return mock;
    return load.call(this, request, ...rest);
  };
  process.env.FAKE_TAILOR_DELAY_MS ??= '0';
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tailor-smoke-'));
  vscode.setSettings({ serverPath: SERVER, 'completion.maxNewTokens': 16, logLevel: 'debug' });
  ext = require(path.join(EXT_ROOT, 'dist/extension.js'));
  await ext.activate({ subscriptions, extensionPath: EXT_ROOT });
});

after(async () => {
  await ext?.deactivate();
  for (const s of subscriptions) s.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('status bar shows model · adapter · state from tailor/status', async () => {
  const item = vscode.recorded.statusItems[0];
  await waitFor(() => item.text.includes('fake-model'), 10_000, 'status bar text');
  assert.equal(item.text, '$(sparkle) fake-model · base · base');
  assert.equal(item.command, 'tailor.showStatus');
});

test('settings were sent as initializationOptions (only the keys set)', async () => {
  const provider = vscode.recorded.inlineProviders[0];
  assert.ok(provider, 'inline completion provider registered');
  const seen: string[] = [];
  await vscode.commands.executeCommand('tailor.showStatus');
  assert.ok(vscode.recorded.output.some((l) => /backend:\s+fake/.test(l)), vscode.recorded.output.join('\n'));
  assert.ok(vscode.recorded.messages.includes('info: Tailor: fake-model · base · base'), vscode.recorded.messages.join('\n'));
  // fake.log is a server command the language client registered from the capabilities.
  const log = await vscode.commands.executeCommand('fake.log');
  seen.push(JSON.stringify(log));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  assert.deepEqual((log as any).initOptions, { completion: { maxNewTokens: 16 }, logLevel: 'debug' });
});

test('inline completion through the provider, accepted command forwarded to the server', async () => {
  const file = path.join(dir, 'greet.py');
  fs.writeFileSync(file, 'def greet');
  const doc = new vscode.TextDocument(vscode.Uri.file(file), 'python', 'def greet');
  vscode.openDocument(doc);
  const { provider } = vscode.recorded.inlineProviders[0];
  const result = await provider.provideInlineCompletionItems(
    doc,
    new vscode.Position(0, 9),
    { triggerKind: vscode.InlineCompletionTriggerKind.Automatic, selectedCompletionInfo: undefined },
    token(),
  );
  const items = Array.isArray(result) ? result : result.items;
  assert.equal(items.length, 1);
  assert.equal(items[0].insertText, '(name):\n    return "Hello, " + name');
  assert.equal(items[0].command.command, 'tailor.client.accepted');
  assert.equal(items[0].command.arguments[0], 'tailor.accepted');

  // An explicit invoke (VS Code's 0) must reach the server as LSP's 1, not fail.
  const invoked = await provider.provideInlineCompletionItems(
    doc,
    new vscode.Position(0, 9),
    { triggerKind: vscode.InlineCompletionTriggerKind.Invoke, selectedCompletionInfo: undefined },
    token(),
  );
  assert.equal((Array.isArray(invoked) ? invoked : invoked.items).length, 1);

  await vscode.commands.executeCommand(items[0].command.command, ...items[0].command.arguments);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const log = (await vscode.commands.executeCommand('fake.log')) as any;
  assert.equal(log.accepted.length, 1);
  assert.match(log.accepted[0].id, /^fake-/);
});

test('a settings change is pushed with didChangeConfiguration', async () => {
  vscode.setSettings({ serverPath: SERVER, 'completion.maxNewTokens': 8, logLevel: 'debug' }, true);
  const settings = await poll(async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const l = (await vscode.commands.executeCommand('fake.log')) as any;
    return l.settings.length > 0 ? (l.settings as unknown[]) : undefined;
  }, 5000, 'didChangeConfiguration');
  assert.deepEqual(settings[settings.length - 1], { tailor: { completion: { maxNewTokens: 8 }, logLevel: 'debug' } });
});
