import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  ACCEPTED_COMMAND,
  CLIENT_ACCEPTED_COMMAND,
  COMMANDS,
  CommandContext,
  contributedCommands,
  lspInlineTriggerKind,
  runCommand,
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
    },
  };
  return { ctx, seen };
}

test('package.json contributes every command of the table', () => {
  assert.deepEqual(pkg.contributes.commands, contributedCommands());
  const ids = pkg.contributes.commands.map((c: { command: string }) => c.command);
  assert.ok(ids.includes('tailor.showStatus'));
  assert.ok(ids.includes('tailor.restartServer'));
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
