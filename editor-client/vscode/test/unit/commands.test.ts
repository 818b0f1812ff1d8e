import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  ACCEPTED_COMMAND,
  budgetError,
  CLIENT_ACCEPTED_COMMAND,
  COMMANDS,
  CommandContext,
  contributedCommands,
  contributedMenus,
  isServerRegistered,
  lspInlineTriggerKind,
  runCommand,
  serverRegisteredCommand,
  wrapAcceptCommand,
} from '../../src/commands';

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../package.json'), 'utf8'));

function fakeUi() {
  const seen = { info: [] as string[], error: [] as string[], show: [] as string[] };
  const ctx: CommandContext = {
    activeUri: 'file:///repo/a.py',
    ui: {
      info: (m) => seen.info.push(m),
      error: (m) => seen.error.push(m),
      show: (t) => seen.show.push(t),
      input: async () => undefined,
      pick: async () => undefined,
      ask: async () => undefined,
    },
  };
  return { ctx, seen };
}

test('package.json contributes every command of the table', () => {
  assert.deepEqual(pkg.contributes.commands, contributedCommands());
  const ids = pkg.contributes.commands.map((c: { command: string }) => c.command);
  assert.ok(ids.includes('tailor.showStatus'));
  assert.ok(ids.includes('tailor.restartServer'));
  assert.ok(ids.includes('tailor.trainAdapter'));
  assert.equal(pkg.contributes.commands.find((c: { command: string }) => c.command === 'tailor.trainAdapter').title, 'Tailor: Train Adapter');
  assert.deepEqual(pkg.contributes.commands.find((c: { command: string }) => c.command === 'tailor.selectModel'), {
    command: 'tailor.selectModel',
    title: 'Tailor: Select Model',
  });
});

test('Write Commit Message: a $(sparkle) button in the title of git repositories in the Source Control view', () => {
  assert.deepEqual(pkg.contributes.menus, contributedMenus());
  const cmd = pkg.contributes.commands.find((c: { command: string }) => c.command === 'tailor.fillCommitMessage');
  assert.deepEqual(cmd, { command: 'tailor.fillCommitMessage', title: 'Tailor: Write Commit Message', icon: '$(sparkle)' });
  assert.deepEqual(pkg.contributes.menus['scm/title'], [
    { command: 'tailor.fillCommitMessage', when: 'scmProvider == git', group: 'navigation' },
  ]);
  // Not hidden from the command palette; not named like a server command (the language
  // client registers tailor.commitMessage itself).
  assert.equal(pkg.contributes.menus.commandPalette, undefined);
  assert.equal(serverRegisteredCommand('tailor.fillCommitMessage'), undefined);
  assert.ok(pkg.activationEvents.includes('onLanguage:git-commit'));
});

test('Show Status runs tailor.status with one {} argument and reports the status', async () => {
  const cmd = COMMANDS.find((c) => c.id === 'tailor.showStatus')!;
  const { ctx, seen } = fakeUi();
  let statusSeen: unknown;
  ctx.onStatus = (s) => (statusSeen = s);
  const sent: unknown[] = [];
  const status = { model: 'm', backend: 'torch', adapter: null, adapterState: 'none', jobs: [], ranking: [] };
  const result = await runCommand(cmd, ctx, {
    sendRequest: async (method, params) => {
      sent.push([method, params]);
      return status;
    },
  });
  assert.deepEqual(sent, [['workspace/executeCommand', { command: 'tailor.status', arguments: [{}] }]]);
  assert.deepEqual(result, status);
  assert.deepEqual(statusSeen, status);
  assert.deepEqual(seen.info, ['Tailor: m · base']);
  assert.match(seen.show[0], /backend:\s+torch/);
});

test('a failing command shows an error and does not throw', async () => {
  const { ctx, seen } = fakeUi();
  const result = await runCommand(COMMANDS[0], ctx, {
    sendRequest: async () => {
      throw new Error('boom');
    },
  });
  assert.equal(result, undefined);
  assert.match(seen.error[0], /tailor\.status failed: boom/);
});

test('an argument builder returning undefined cancels the command', async () => {
  const { ctx } = fakeUi();
  let called = false;
  const cmd = { ...COMMANDS[0], args: () => undefined };
  await runCommand(cmd, ctx, { sendRequest: async () => ((called = true), null) });
  assert.equal(called, false);
});

test('tailor.accepted on inline items is forwarded through the client command', () => {
  const wrapped = wrapAcceptCommand({ title: 'accepted', command: ACCEPTED_COMMAND, arguments: [{ id: 'c1' }] });
  assert.deepEqual(wrapped, { title: 'accepted', command: CLIENT_ACCEPTED_COMMAND, arguments: [ACCEPTED_COMMAND, { id: 'c1' }] });
  assert.equal(wrapAcceptCommand(undefined), undefined);
  const other = { title: 'x', command: 'other.command' };
  assert.equal(wrapAcceptCommand(other), other);
});

test("VS Code's 0-based inline trigger kinds map to LSP 3.18's 1 = Invoked, 2 = Automatic", () => {
  assert.equal(lspInlineTriggerKind(0), 1); // vscode.InlineCompletionTriggerKind.Invoke
  assert.equal(lspInlineTriggerKind(1), 2); // vscode.InlineCompletionTriggerKind.Automatic
});

test('a command named like its server command is left to the language client to register', () => {
  // vscode-languageclient registers every command the server lists (executeCommandProvider);
  // registering the same id again fails, so the extension runs those through its middleware.
  assert.equal(isServerRegistered(trainCommand()), true);
  assert.equal(serverRegisteredCommand('tailor.trainAdapter'), trainCommand());
  assert.equal(isServerRegistered(COMMANDS.find((c) => c.id === 'tailor.showStatus')!), false);
  assert.equal(serverRegisteredCommand('tailor.status'), undefined);
  assert.equal(serverRegisteredCommand('tailor.accepted'), undefined);
  // Select Model too: the language client registers tailor.selectModel.
  assert.equal(serverRegisteredCommand('tailor.selectModel')?.title, 'Tailor: Select Model');
});

test('Select Model through the command table: [] first, then {apply} for the choice; a failure is shown', async () => {
  const cmd = serverRegisteredCommand('tailor.selectModel')!;
  const { ctx, seen } = fakeUi();
  const ranking = {
    state: 'ready',
    message: '',
    current: 'a',
    pick: 'b',
    fraction: null,
    computedAt: null,
    candidates: [
      { model: 'b', kind: 'llama', parameters: null, predicted_score: 0.5, measured_score: null, latency_ms: 90, within_latency_budget: true, available: true, skipped: null, live: null },
      { model: 'a', kind: 'llama', parameters: null, predicted_score: 0.4, measured_score: null, latency_ms: 50, within_latency_budget: true, available: true, skipped: null, live: null },
    ],
  };
  ctx.ui.pick = async (items) => items.find((i) => i.model === 'b');
  const { sent, sender } = recordingSender(ranking);
  await runCommand(cmd, ctx, sender);
  assert.deepEqual(sent, [
    ['workspace/executeCommand', { command: 'tailor.selectModel', arguments: [] }],
    ['workspace/executeCommand', { command: 'tailor.selectModel', arguments: [{ apply: 'b' }] }],
  ]);
  assert.deepEqual(seen.info, ['Tailor: switching to b']);

  const failing = fakeUi();
  const result = await runCommand(cmd, failing.ctx, {
    sendRequest: async () => {
      throw new Error('boom');
    },
  });
  assert.equal(result, undefined);
  assert.deepEqual(failing.seen.error, ['Tailor: tailor.selectModel failed: boom']);
});

test('training budgets are checked as the server does', () => {
  for (const ok of ['90s', '10m', '1h', '1.5h', ' 30s ', '200k-tokens', '5000-tokens', '1m-tokens', '2K tokens', '20S']) {
    assert.equal(budgetError(ok), undefined, ok);
  }
  for (const bad of ['', 'soon', '0s', '10', '-5m', '1.s', '10 days', '0.5-tokens']) {
    assert.match(budgetError(bad) ?? '', /bad training budget/, JSON.stringify(bad));
  }
});

function trainCommand() {
  return COMMANDS.find((c) => c.id === 'tailor.trainAdapter')!;
}

function recordingSender(reply: unknown = { jobId: 'train-1' }) {
  const sent: unknown[] = [];
  return { sent, sender: { sendRequest: async (method: string, params: unknown) => (sent.push([method, params]), reply) } };
}

test('Train Adapter asks for the budget, prefilled from tailor.training.budget, and trains the active file', async () => {
  const { ctx, seen } = fakeUi();
  const asked: unknown[] = [];
  ctx.setting = (key) => (key === 'training.budget' ? '90s' : undefined);
  ctx.ui.input = async (prompt, value, validate) => {
    asked.push([prompt, value, validate?.('x'), validate?.('2m')]);
    return '2m';
  };
  const { sent, sender } = recordingSender();
  const result = await runCommand(trainCommand(), ctx, sender);
  assert.deepEqual(result, { jobId: 'train-1' });
  assert.equal(asked.length, 1);
  const [prompt, value, bad, good] = asked[0] as unknown[];
  assert.match(String(prompt), /budget/);
  assert.equal(value, '90s');
  assert.match(String(bad), /bad training budget/);
  assert.equal(good, undefined);
  assert.deepEqual(sent, [['workspace/executeCommand', { command: 'tailor.trainAdapter', arguments: [{ budget: '2m', uri: 'file:///repo/a.py' }] }]]);
  assert.match(seen.show[0], /training job train-1 started \(budget 2m/);
  assert.deepEqual(seen.error, []);
});

test('Train Adapter: the default budget without a setting; Escape cancels; arguments skip the prompt', async () => {
  const { ctx } = fakeUi();
  let offered: string | undefined;
  ctx.ui.input = async (_p, value) => ((offered = value), undefined);
  const { sent, sender } = recordingSender();
  assert.equal(await runCommand(trainCommand(), ctx, sender), undefined);
  assert.equal(offered, '10m');
  assert.equal(sent.length, 0, 'cancelled input sends nothing');

  const bypass = fakeUi();
  bypass.ctx.ui.input = async () => assert.fail('no prompt when the budget is given');
  bypass.ctx.args = [{ budget: '20s', uri: 'file:///other/b.py' }];
  await runCommand(trainCommand(), bypass.ctx, sender);
  assert.deepEqual(sent, [['workspace/executeCommand', { command: 'tailor.trainAdapter', arguments: [{ budget: '20s', uri: 'file:///other/b.py' }] }]]);
});

test('Train Adapter refuses a bad budget given as an argument; no uri for an untitled editor', async () => {
  const { ctx, seen } = fakeUi();
  ctx.args = [{ budget: 'forever' }];
  const { sent, sender } = recordingSender();
  await runCommand(trainCommand(), ctx, sender);
  assert.equal(sent.length, 0);
  assert.match(seen.error[0], /bad training budget "forever"/);

  const untitled = fakeUi();
  untitled.ctx.activeUri = 'untitled:Untitled-1';
  untitled.ctx.args = [{ budget: '1h' }];
  await runCommand(trainCommand(), untitled.ctx, sender);
  assert.deepEqual(sent, [['workspace/executeCommand', { command: 'tailor.trainAdapter', arguments: [{ budget: '1h' }] }]]);
});
