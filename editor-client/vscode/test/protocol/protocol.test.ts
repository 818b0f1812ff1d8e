// Protocol test: drives the real Python server (`tailor serve`) over stdio with
// vscode-languageserver-protocol, as the extension's language client does.
//   TAILOR_SERVER  the tailor executable (default: ../../.venv/bin/tailor from the extension)
//   TAILOR_HOME    the server's data directory (inherited; reuse one with a converted model)
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { ChildProcess, spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

import {
  CancellationTokenSource,
  createProtocolConnection,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  ExecuteCommandRequest,
  ExitNotification,
  InitializedNotification,
  InitializeRequest,
  InlineCompletionItem,
  InlineCompletionList,
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
  ProtocolConnection,
  ResponseError,
  ShutdownRequest,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-languageserver-protocol/node';

const EXT_ROOT = path.resolve(__dirname, '../../..');
const SERVER = process.env.TAILOR_SERVER || path.resolve(EXT_ROOT, '../../.venv/bin/tailor');
const FIRST_COMPLETION_TIMEOUT_MS = Number(process.env.TAILOR_FIRST_COMPLETION_TIMEOUT_MS || 300_000);
const REQUEST_CANCELLED = -32800;
// LSP 3.18 values. (vscode-languageserver-protocol 3.17.5 still has the proposal's 0/1.)
const TRIGGER_INVOKED = 1 as unknown as InlineCompletionTriggerKind;
const TRIGGER_AUTOMATIC = 2 as unknown as InlineCompletionTriggerKind;

const SOURCE = [
  '"""Small numeric helpers."""',
  '',
  '',
  'def square(x):',
  '    """Return x squared."""',
  '    return x * x',
  '',
  '',
  'def fibonacci(n):',
  '    """Return the n-th Fibonacci number."""',
  '    if n < 2:',
  '        return n',
  '    return fibonacci(n - 1) + fibonacci(',
].join('\n');

let proc: ChildProcess;
let conn: ProtocolConnection;
let repo: string;
let uri: string;
let version = 1;
const statusNotifications: unknown[] = [];
let stderrTail = '';

function log(msg: string): void {
  process.stderr.write(`[protocol-test] ${msg}\n`);
}

function items(result: InlineCompletionItem[] | InlineCompletionList | null | undefined): InlineCompletionItem[] {
  if (!result) return [];
  return Array.isArray(result) ? result : result.items;
}

function text(item: InlineCompletionItem): string {
  return typeof item.insertText === 'string' ? item.insertText : item.insertText.value;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no reply within ${ms} ms\nserver stderr:\n${stderrTail}`)), ms);
    }),
  ]);
}

before(async () => {
  assert.ok(fs.existsSync(SERVER), `tailor server not found at ${SERVER} (set TAILOR_SERVER)`);
  repo = fs.mkdtempSync(path.join(os.tmpdir(), 'tailor-protocol-'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=Tailor Test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false', ...args], {
      cwd: repo,
      stdio: 'ignore',
    });
  git('init', '-q');
  fs.writeFileSync(path.join(repo, 'mathutil.py'), SOURCE + 'n - 2)\n');
  git('add', 'mathutil.py');
  git('commit', '-q', '-m', 'Add math helpers');
  uri = pathToFileURL(path.join(repo, 'mathutil.py')).toString();

  proc = spawn(SERVER, ['serve'], { cwd: repo, env: process.env, stdio: ['pipe', 'pipe', 'pipe'] });
  proc.stderr!.on('data', (d: Buffer) => {
    stderrTail = (stderrTail + d.toString()).slice(-4000);
    if (process.env.TAILOR_TEST_VERBOSE) process.stderr.write(d);
  });
  conn = createProtocolConnection(new StreamMessageReader(proc.stdout!), new StreamMessageWriter(proc.stdin!));
  conn.onNotification('tailor/status', (s: unknown) => statusNotifications.push(s));
  conn.onNotification('window/logMessage', (m: { message: string }) => {
    if (process.env.TAILOR_TEST_VERBOSE) log(`logMessage: ${m.message}`);
  });
  conn.onNotification('window/showMessage', (m: { message: string }) => log(`showMessage: ${m.message}`));
  conn.onRequest('window/workDoneProgress/create', () => null);
  conn.onRequest('client/registerCapability', () => null);
  conn.onRequest('workspace/configuration', (p: { items: unknown[] }) => p.items.map(() => ({})));
  conn.listen();

  const t0 = Date.now();
  const init = await withTimeout(
    conn.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: pathToFileURL(repo).toString(),
      workspaceFolders: [{ uri: pathToFileURL(repo).toString(), name: 'repo' }],
      capabilities: {
        textDocument: {
          synchronization: { dynamicRegistration: false },
          inlineCompletion: { dynamicRegistration: false },
        },
        workspace: { configuration: true, didChangeConfiguration: { dynamicRegistration: false }, workspaceFolders: true },
        window: { workDoneProgress: true },
      },
      initializationOptions: { completion: { maxNewTokens: 24 } },
    }),
    60_000,
    'initialize',
  );
  log(`initialize: ${Date.now() - t0} ms`);
  assert.ok(init.capabilities.inlineCompletionProvider, 'server advertises inlineCompletionProvider');
  const cmds = init.capabilities.executeCommandProvider?.commands ?? [];
  assert.ok(cmds.includes('tailor.status'), `executeCommandProvider lists tailor.status: ${JSON.stringify(cmds)}`);
  await conn.sendNotification(InitializedNotification.type, {});
  await conn.sendNotification(DidOpenTextDocumentNotification.type, {
    textDocument: { uri, languageId: 'python', version, text: SOURCE + '\n' },
  });
});

after(async () => {
  if (conn) {
    try {
      await withTimeout(conn.sendRequest(ShutdownRequest.type), 10_000, 'shutdown');
      await conn.sendNotification(ExitNotification.type);
      proc.stdin?.end();
    } catch (e) {
      log(`shutdown: ${String(e)}`);
    }
  }
  if (proc && proc.exitCode === null) {
    const t0 = Date.now();
    await Promise.race([new Promise((r) => proc.once('exit', r)), new Promise((r) => setTimeout(r, 5000))]);
    if (proc.exitCode === null) {
      log('server still running 5 s after exit; killing it');
      proc.kill('SIGKILL');
    } else {
      log(`server exited (code ${proc.exitCode}) ${Date.now() - t0} ms after exit`);
    }
  }
  conn?.dispose();
  if (repo) fs.rmSync(repo, { recursive: true, force: true });
});

test('tailor.status returns the status object', async () => {
  const status = (await withTimeout(
    conn.sendRequest(ExecuteCommandRequest.type, { command: 'tailor.status', arguments: [{}] }),
    30_000,
    'tailor.status',
  )) as Record<string, unknown>;
  log(`tailor.status: ${JSON.stringify(status)}`);
  for (const key of ['model', 'backend', 'adapter', 'adapterState', 'jobs', 'ranking']) {
    assert.ok(key in status, `status has ${key}`);
  }
});

test('inline completion returns an item with tailor.accepted, which records the acceptance', async () => {
  const line = SOURCE.split('\n').length - 1;
  const character = SOURCE.split('\n')[line].length;
  const t0 = Date.now();
  const result = await withTimeout(
    conn.sendRequest(InlineCompletionRequest.type, {
      textDocument: { uri },
      position: { line, character },
      context: { triggerKind: TRIGGER_INVOKED },
    }),
    FIRST_COMPLETION_TIMEOUT_MS,
    'first inline completion (model load)',
  );
  log(`first inline completion: ${Date.now() - t0} ms: ${JSON.stringify(result)}`);
  const list = items(result);
  assert.ok(list.length > 0, 'at least one item');
  const item = list[0];
  assert.ok(text(item).length > 0, 'non-empty insertText');
  if (item.range) {
    assert.equal(item.range.start.line, line);
    assert.ok(item.range.start.character <= character);
  }
  assert.equal(item.command?.command, 'tailor.accepted');
  const arg = item.command?.arguments?.[0] as { id?: unknown };
  assert.ok(arg && arg.id !== undefined, 'tailor.accepted argument has an id');

  const t1 = Date.now();
  const again = await withTimeout(
    conn.sendRequest(InlineCompletionRequest.type, {
      textDocument: { uri },
      position: { line, character },
      context: { triggerKind: TRIGGER_AUTOMATIC },
    }),
    30_000,
    'second inline completion',
  );
  log(`second inline completion (same position): ${Date.now() - t1} ms, ${items(again).length} item(s)`);

  const accepted = await withTimeout(
    conn.sendRequest(ExecuteCommandRequest.type, {
      command: 'tailor.accepted',
      arguments: [{ ...arg, acceptedChars: text(item).length }],
    }),
    10_000,
    'tailor.accepted',
  );
  assert.equal(accepted ?? null, null);
});

test('a cancelled inline completion is answered promptly (RequestCancelled or empty)', async () => {
  // A new text, so that no cache (the server keeps one on disk) can answer it at once.
  version += 1;
  const nonce = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const newText = SOURCE + `n - 2)\n\n\ndef quicksort(items):\n    "Sort items with quicksort (${nonce})."\n    `;
  await conn.sendNotification(DidChangeTextDocumentNotification.type, {
    textDocument: { uri, version },
    contentChanges: [{ text: newText }],
  });
  const lines = newText.split('\n');
  const source = new CancellationTokenSource();
  const t0 = Date.now();
  const pending = conn.sendRequest(
    InlineCompletionRequest.type,
    {
      textDocument: { uri },
      position: { line: lines.length - 1, character: lines[lines.length - 1].length },
      context: { triggerKind: TRIGGER_AUTOMATIC },
    },
    source.token,
  );
  setTimeout(() => source.cancel(), 30);
  let outcome: string;
  try {
    const result = await withTimeout(pending, 5_000, 'cancelled inline completion');
    const n = items(result).filter((i) => text(i).length > 0).length;
    outcome = `result with ${n} non-empty item(s)`;
    assert.equal(n, 0, `a cancelled request returned ${JSON.stringify(result)}`);
  } catch (e) {
    if (!(e instanceof ResponseError)) throw e;
    outcome = `error ${e.code} ${e.message}`;
    assert.equal(e.code, REQUEST_CANCELLED);
  }
  log(`cancelled inline completion: ${outcome} after ${Date.now() - t0} ms`);
  assert.ok(Date.now() - t0 < 5_000);
});

test('the server sent tailor/status notifications', () => {
  log(`tailor/status notifications: ${statusNotifications.length}`);
  assert.ok(statusNotifications.length > 0, 'at least one tailor/status notification');
  const last = statusNotifications[statusNotifications.length - 1] as Record<string, unknown>;
  assert.ok('model' in last);
});
