// Smoke test of the bundled extension (dist/extension.js) inside a mock `vscode` module:
// activation starts the server (TAILOR_SERVER, default the fake tests/clients/fake-tailor),
// sends the settings, registers the inline provider (with LSP 3.18 trigger kinds and the
// tailor.accepted forwarding), feeds the status bar from tailor/status, and runs commands
// (Train Adapter; Select Model's QuickPick; Write Commit Message against a fake git
// extension).
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
  process.env.FAKE_TAILOR_TRAIN_STEP_MS ??= '100';
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

test('Train Adapter: progress as a cancellable notification, training % in the status bar, the result message', async () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const log0 = (await vscode.commands.executeCommand('fake.log')) as any;
  assert.equal(log0.workDoneProgress, true, 'the language client advertises window.workDoneProgress');
  const file = path.join(dir, 'train.py');
  fs.writeFileSync(file, 'x = 1\n');
  const doc = new vscode.TextDocument(vscode.Uri.file(file), 'python', 'x = 1\n');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  (vscode.window as any).activeTextEditor = { document: doc };
  const item = vscode.recorded.statusItems[0];
  const texts: string[] = [];
  const watch = setInterval(() => texts.push(item.text), 10);
  try {
    // The budget given as an argument skips the input box.
    const result = await vscode.commands.executeCommand('tailor.trainAdapter', { budget: '30s' });
    assert.deepEqual(result, { jobId: 'train-1' });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const log = (await vscode.commands.executeCommand('fake.log')) as any;
    assert.deepEqual(log.train[0], { budget: '30s', uri: vscode.Uri.file(file).toString() });
    assert.equal(vscode.recorded.inputs.length, 0);
    const bar = await waitFor(() => vscode.recorded.progress.find((p) => p.options.title === 'Tailor: training adapter'), 5000, 'progress notification');
    assert.equal(bar.options.location, vscode.ProgressLocation.Notification);
    assert.equal(bar.options.cancellable, true);
    await waitFor(() => bar.done, 5000, 'the progress to end');
    const name = path.basename(dir);
    assert.deepEqual(bar.reports[0], { message: name, increment: 0 });
    assert.ok(bar.reports.some((r) => r.message === `${name}: 1.0k tokens, loss 1.750` && r.increment === 25), JSON.stringify(bar.reports));
    const total = bar.reports.reduce((n, r) => n + (r.increment ?? 0), 0);
    assert.equal(total, 100);
    const message = `info: Tailor: ${name}: adapter trained and active (held-out loss 2.000 -> 1.500, next-line exact match 10% -> 20%)`;
    await waitFor(() => vscode.recorded.messages.includes(message), 3000, 'the result message');
    assert.equal(vscode.recorded.messages.filter((m) => m === message).length, 1, 'shown once');
    await waitFor(() => item.text === '$(sparkle) fake-model · base · base', 3000, 'status bar after the job');
    assert.ok(texts.some((t) => /^\$\(sync~spin\) fake-model · base · base · training \d+%$/.test(t)), `status bar showed training %: ${[...new Set(texts)].join(' | ')}`);
    assert.match(item.tooltip, /train-1 {2}train {2}done {2}budget 30s/);
  } finally {
    clearInterval(watch);
  }
});

test('Train Adapter asks for the budget (prefilled from tailor.training.budget) and the cancel button cancels', async () => {
  vscode.setSettings({ serverPath: SERVER, 'completion.maxNewTokens': 8, logLevel: 'debug', 'training.budget': '10m' });
  vscode.recorded.inputReply = (o) => (o.validateInput('later') ? o.value : 'never');
  const result = await vscode.commands.executeCommand('tailor.trainAdapter');
  assert.deepEqual(result, { jobId: 'train-2' });
  assert.equal(vscode.recorded.inputs.length, 1);
  assert.equal(vscode.recorded.inputs[0].value, '10m');
  assert.match(vscode.recorded.inputs[0].validateInput('later'), /bad training budget/);
  assert.equal(vscode.recorded.inputs[0].validateInput('45s'), undefined);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let log = (await vscode.commands.executeCommand('fake.log')) as any;
  assert.equal(log.train[1].budget, '10m');
  const bar = await waitFor(() => vscode.recorded.progress.filter((p) => p.options.title === 'Tailor: training adapter')[1], 5000, 'second progress');
  await waitFor(() => bar.reports.length >= 2, 5000, 'a report');
  bar.cancel();
  log = await poll(async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const l = (await vscode.commands.executeCommand('fake.log')) as any;
    return l.progressCancelled.length > 0 ? l : undefined;
  }, 5000, 'window/workDoneProgress/cancel');
  assert.deepEqual(log.progressCancelled, ['fake-train-2']);
  await waitFor(() => vscode.recorded.messages.some((m) => m.endsWith(': training cancelled; nothing saved')), 5000, 'the cancelled message');
  await waitFor(() => bar.done, 3000, 'the progress to end');
  // A bad budget from the input box cannot happen (validateInput); as an argument it is refused.
  await vscode.commands.executeCommand('tailor.trainAdapter', { budget: 'forever' });
  assert.ok(vscode.recorded.messages.some((m) => m.startsWith('error: Tailor: bad training budget "forever"')), vscode.recorded.messages.join('\n'));
});

/** A fake git extension (vscode.git) with API version 1 over the given repositories. */
function fakeGit(repos: { rootUri: vscode.Uri; inputBox: { value: string } }[]) {
  const calls = { activate: 0, getAPI: [] as number[] };
  const api = { state: 'initialized', repositories: repos, onDidChangeState: () => new vscode.Disposable() };
  const gitExports = {
    enabled: true,
    getAPI: (version: number) => (calls.getAPI.push(version), api),
  };
  const extension = {
    id: 'vscode.git',
    isActive: false,
    exports: undefined as unknown,
    activate: async () => {
      calls.activate++;
      extension.isActive = true;
      extension.exports = gitExports;
      return gitExports;
    },
  };
  return { extension, calls };
}

test('Write Commit Message: tailor.commitMessage for the chosen repository fills its Source Control input box', async () => {
  // Two repositories (a .git folder is all the fake server looks for).
  const roots = ['alpha', 'beta'].map((n) => path.join(dir, n));
  for (const r of roots) fs.mkdirSync(path.join(r, '.git'), { recursive: true });
  const [alpha, beta] = roots.map((r) => ({ rootUri: vscode.Uri.file(r), inputBox: { value: '' } }));
  const { extension, calls } = fakeGit([alpha, beta]);
  vscode.git.extension = extension;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const win = vscode.window as any;
  win.activeTextEditor = undefined;
  const log = async () =>
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    (await vscode.commands.executeCommand('fake.log')) as any;
  try {
    // The scm/title button passes the SourceControl of its repository.
    const sourceControl = { id: 'git', label: 'Git', rootUri: vscode.Uri.file(roots[1]) };
    const progressBefore = vscode.recorded.progress.length;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const result = (await vscode.commands.executeCommand('tailor.fillCommitMessage', sourceControl)) as any;
    assert.equal(result.subject, 'Update beta');
    assert.equal(beta.inputBox.value, 'Update beta\n\nDescribe the staged changes of beta.');
    assert.equal(alpha.inputBox.value, '');
    assert.equal(calls.activate, 1, 'the git extension is activated on demand');
    assert.deepEqual(calls.getAPI, [1]);
    let l = await log();
    assert.deepEqual(l.commit[l.commit.length - 1], { uri: vscode.Uri.file(roots[1]).toString() });
    const scmProgress = vscode.recorded.progress.slice(progressBefore).filter((p) => p.options.location === vscode.ProgressLocation.SourceControl);
    assert.equal(scmProgress.length, 1, 'progress in the Source Control view');
    assert.equal(scmProgress[0].done, true);

    // From the command palette: the active editor's repository; the server's notice is shown.
    await vscode.commands.executeCommand('fake.commitMode', { mode: 'notice' });
    const file = path.join(roots[0], 'main.py');
    fs.writeFileSync(file, 'x = 1\n');
    win.activeTextEditor = { document: new vscode.TextDocument(vscode.Uri.file(file), 'python', 'x = 1\n') };
    await vscode.commands.executeCommand('tailor.fillCommitMessage');
    assert.equal(alpha.inputBox.value, 'Update alpha\n\nDescribe the unstaged changes of alpha.');
    assert.ok(vscode.recorded.messages.includes('info: Tailor: nothing is staged: described the unstaged changes'), vscode.recorded.messages.join('\n'));
    l = await log();
    assert.deepEqual(l.commit[l.commit.length - 1], { uri: vscode.Uri.file(roots[0]).toString() });

    // A server error is shown as an error; the input box keeps its text.
    await vscode.commands.executeCommand('fake.commitMode', { mode: 'error' });
    alpha.inputBox.value = 'my draft';
    const failed = await vscode.commands.executeCommand('tailor.fillCommitMessage');
    assert.equal(failed, undefined);
    assert.equal(alpha.inputBox.value, 'my draft');
    assert.ok(
      vscode.recorded.messages.includes(`error: Tailor: tailor.commitMessage failed: not a git repository: ${roots[0]}`),
      vscode.recorded.messages.join('\n'),
    );

    // Without the git extension: said so, nothing sent.
    await vscode.commands.executeCommand('fake.commitMode', { mode: 'ok' });
    vscode.git.extension = undefined;
    const sent = (await log()).commit.length;
    assert.equal(await vscode.commands.executeCommand('tailor.fillCommitMessage', sourceControl), undefined);
    assert.ok(
      vscode.recorded.messages.some((m) => m.startsWith('error: Tailor: the built-in Git extension (vscode.git) is not available')),
      vscode.recorded.messages.join('\n'),
    );
    assert.equal((await log()).commit.length, sent);
  } finally {
    vscode.git.extension = undefined;
    win.activeTextEditor = undefined;
  }
});

test('Select Model: the ranking in a QuickPick (current marked), a choice applied; none -> Rank now; an apply error shown', async () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const log = async () => (await vscode.commands.executeCommand('fake.log')) as any;
  const fakeMode = (mode: Record<string, unknown>) => vscode.commands.executeCommand('fake.selectMode', mode);
  const item = vscode.recorded.statusItems[0];
  try {
    // The language client registered the server's tailor.selectModel; the extension's
    // middleware runs it through the command table (QuickPick, then apply).
    assert.ok(vscode.recorded.commands.has('tailor.selectModel'), 'tailor.selectModel is registered');
    const before = (await log()).select.length;
    vscode.recorded.quickPickReply = (items) => items.find((i: { label: string }) => i.label === 'smollm2-360m-instruct');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const result = (await vscode.commands.executeCommand('tailor.selectModel')) as any;
    assert.equal(result.applied, 'smollm2-360m-instruct');
    const pick = vscode.recorded.quickPicks[0];
    assert.deepEqual(
      pick.items.map((i: { label: string; description: string }) => [i.label, i.description]),
      [
        ['smollm2-360m-instruct', '$(star) pick · predicted 0.412 · measured 0.398 · 310 ms'],
        ['smollm2-135m-instruct', '$(check) current · predicted 0.301 · 120 ms'],
        ['$(refresh) Rank again', 'rank the candidate models again in the background'],
      ],
    );
    assert.equal(pick.options.title, 'Tailor: Select Model');
    assert.match(pick.options.placeHolder, /^Base model now: smollm2-135m-instruct · .*not available: qwen2\.5-coder-1\.5b$/);
    let l = await log();
    assert.deepEqual(l.select.slice(before), [[], [{ apply: 'smollm2-360m-instruct' }]]);
    assert.deepEqual(l.applied, ['smollm2-360m-instruct']);
    assert.ok(vscode.recorded.messages.includes('info: Tailor: switching to smollm2-360m-instruct'), vscode.recorded.messages.join('\n'));
    await waitFor(() => item.text.includes('smollm2-360m-instruct'), 3000, 'the status bar after the switch');

    // No ranking yet: "Rank now" starts one.
    await fakeMode({ state: 'none' });
    vscode.recorded.messageReply = (_m, buttons) => (buttons.includes('Rank now') ? 'Rank now' : undefined);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const started = (await vscode.commands.executeCommand('tailor.selectModel')) as any;
    assert.equal(started.state, 'running');
    assert.equal(vscode.recorded.messageButtons.at(-1)?.message, 'Tailor: there is no model ranking yet. Rank the candidate models now? It runs in the background.');
    l = await log();
    assert.deepEqual(l.select.slice(-2), [[], [{ refresh: true }]]);
    assert.ok(vscode.recorded.messages.includes('info: Tailor: ranking models 0% · ranking 3 candidate models (0 of 3 done)'), vscode.recorded.messages.join('\n'));
    assert.equal(vscode.recorded.quickPicks.length, 1, 'no QuickPick without a ranking');

    // The server refuses the apply: an error message, nothing thrown, nothing applied.
    await fakeMode({ state: 'ready', applyError: 'model smollm2-135m-instruct could not be loaded: no space left' });
    vscode.recorded.quickPickReply = (items) => items.find((i: { label: string }) => i.label === 'smollm2-135m-instruct');
    assert.equal(await vscode.commands.executeCommand('tailor.selectModel'), undefined);
    assert.ok(
      vscode.recorded.messages.includes(
        'error: Tailor: could not switch to smollm2-135m-instruct: model smollm2-135m-instruct could not be loaded: no space left',
      ),
      vscode.recorded.messages.join('\n'),
    );
    assert.deepEqual((await log()).applied, ['smollm2-360m-instruct']);
  } finally {
    vscode.recorded.quickPickReply = undefined;
    vscode.recorded.messageReply = undefined;
    await fakeMode({ state: 'ready', applyError: null });
  }
});
