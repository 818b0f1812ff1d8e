// Protocol test: drives the real Python server (`tailor serve`) over stdio with
// vscode-languageserver-protocol, as the extension's language client does (inline
// completion, tailor.status, tailor.accepted, cancellation, tailor.commitMessage,
// tailor.trainAdapter with its progress and cancel).
//   TAILOR_SERVER  the tailor executable (default: ../../.venv/bin/tailor from the extension)
//   TAILOR_HOME    the server's data directory (inherited; reuse one with a converted model)
//   TAILOR_TRAIN_TIMEOUT_MS  how long the 20 s training job may take (default 240000; about
//                  80 s on 2 CPU cores, model load and evaluation included)
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
  WorkDoneProgress,
  WorkDoneProgressBegin,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateRequest,
  WorkDoneProgressEnd,
  WorkDoneProgressReport,
} from 'vscode-languageserver-protocol/node';

const EXT_ROOT = path.resolve(__dirname, '../../..');
const SERVER = process.env.TAILOR_SERVER || path.resolve(EXT_ROOT, '../../.venv/bin/tailor');
const FIRST_COMPLETION_TIMEOUT_MS = Number(process.env.TAILOR_FIRST_COMPLETION_TIMEOUT_MS || 300_000);
const REQUEST_CANCELLED = -32800;
const TRAIN_TIMEOUT_MS = Number(process.env.TAILOR_TRAIN_TIMEOUT_MS || 240_000);
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
const shownMessages: string[] = [];
type ProgressValue = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;
/** Server-initiated work done progress: token -> values received, in order. */
const progress = new Map<string, ProgressValue[]>();
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

function git(...args: string[]): void {
  execFileSync('git', ['-c', 'user.name=Tailor Test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false', ...args], {
    cwd: repo,
    stdio: 'ignore',
  });
}

before(async () => {
  assert.ok(fs.existsSync(SERVER), `tailor server not found at ${SERVER} (set TAILOR_SERVER)`);
  repo = fs.mkdtempSync(path.join(os.tmpdir(), 'tailor-protocol-'));
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
  conn.onNotification('window/showMessage', (m: { message: string }) => {
    shownMessages.push(m.message);
    log(`showMessage: ${m.message}`);
  });
  conn.onRequest(WorkDoneProgressCreateRequest.type, (p) => {
    const token = String(p.token);
    progress.set(token, []);
    conn.onProgress(WorkDoneProgress.type, p.token, (v) => {
      progress.get(token)!.push(v);
      if (process.env.TAILOR_TEST_VERBOSE) log(`$/progress ${token}: ${JSON.stringify(v)}`);
    });
    return null;
  });
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
      initializationOptions: { completion: { maxNewTokens: 24, timeoutMs: 60000 } },
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

test('tailor.commitMessage {uri: repository root} describes the staged diff', async () => {
  fs.appendFileSync(path.join(repo, 'mathutil.py'), '\n\ndef cube(x):\n    """Return x cubed."""\n    return x * x * x\n');
  git('add', 'mathutil.py');
  const t0 = Date.now();
  const r = (await withTimeout(
    conn.sendRequest(ExecuteCommandRequest.type, { command: 'tailor.commitMessage', arguments: [{ uri: pathToFileURL(repo).toString() }] }),
    FIRST_COMPLETION_TIMEOUT_MS,
    'tailor.commitMessage',
  )) as Record<string, unknown>;
  log(`tailor.commitMessage after ${Date.now() - t0} ms: ${JSON.stringify(r)}`);
  assert.equal(typeof r.message, 'string');
  const message = r.message as string;
  const lines = message.split('\n');
  assert.ok(lines[0].trim().length > 0 && lines[0].length <= 72, `subject line of 1-72 characters: ${JSON.stringify(lines[0])}`);
  if (lines.length > 1) assert.equal(lines[1], '', 'a blank line after the subject');
  assert.equal(r.subject, lines[0]);
  assert.equal(typeof r.body, 'string');
  assert.equal(r.body, lines.length > 2 ? lines.slice(2).join('\n') : '', 'body: the message after the blank line');
  for (const line of lines) {
    assert.ok(!/^(diff --git|\+|@@)/.test(line), `no diff text in the message: ${JSON.stringify(line)}`);
  }
  assert.ok(r.source === 'model' || r.source === 'fallback', `source: ${JSON.stringify(r.source)}`);
  assert.ok(r.timing !== null && typeof r.timing === 'object', `timing: ${JSON.stringify(r.timing)}`);
  assert.equal(r.diff, 'staged');
  assert.ok(r.notice === null || typeof r.notice === 'string', `notice: ${JSON.stringify(r.notice)}`);
  assert.ok(r.adapter === null || typeof r.adapter === 'string', `adapter: ${JSON.stringify(r.adapter)}`);
  assert.equal(typeof r.files, 'number');
  assert.ok((r.files as number) >= 1);
});

test('tailor.commitMessage outside a git repository answers with a JSON-RPC error that says why', async () => {
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'tailor-not-a-repo-'));
  try {
    await assert.rejects(
      withTimeout(
        conn.sendRequest(ExecuteCommandRequest.type, { command: 'tailor.commitMessage', arguments: [{ uri: pathToFileURL(outside).toString() }] }),
        30_000,
        'tailor.commitMessage outside git',
      ),
      (e: unknown) => {
        assert.ok(e instanceof ResponseError, `a ResponseError: ${String(e)}`);
        assert.ok(e.message.trim().length > 0, 'with a message');
        assert.ok(e.message.includes(path.basename(outside)), `the message names the folder: ${e.message}`);
        log(`tailor.commitMessage outside git: ${e.code} ${e.message}`);
        return true;
      },
    );
  } finally {
    fs.rmSync(outside, { recursive: true, force: true });
  }
});

async function until<T>(fn: () => T | undefined | false, ms: number, what: string): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}\nserver stderr:\n${stderrTail}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

type Job = { id: string; kind: string; repo: string; budget: string; state: string; fraction: number; message: string; result: unknown };

function lastJob(id: string): Job | undefined {
  for (let i = statusNotifications.length - 1; i >= 0; i--) {
    const jobs = (statusNotifications[i] as { jobs?: Job[] }).jobs ?? [];
    const job = jobs.find((j) => j.id === id);
    if (job) return job;
  }
  return undefined;
}

/** The progress token created after `known` tokens, once it has `n` values. */
async function newProgress(known: Set<string>, n: number, ms: number): Promise<[string, ProgressValue[]]> {
  return until(() => [...progress].find(([t, v]) => !known.has(t) && v.length >= n), ms, `a new work done progress with ${n} value(s)`);
}

test('tailor.trainAdapter returns {jobId} at once and reports the training as work done progress', async () => {
  const known = new Set(progress.keys());
  const t0 = Date.now();
  const reply = (await withTimeout(
    conn.sendRequest(ExecuteCommandRequest.type, { command: 'tailor.trainAdapter', arguments: [{ uri, budget: '20s' }] }),
    10_000,
    'tailor.trainAdapter',
  )) as { jobId?: string };
  log(`tailor.trainAdapter: ${JSON.stringify(reply)} after ${Date.now() - t0} ms`);
  assert.equal(typeof reply.jobId, 'string');
  const [token, values] = await newProgress(known, 1, 30_000);
  const begin = values[0] as WorkDoneProgressBegin;
  assert.equal(begin.kind, 'begin');
  assert.equal(begin.title, 'Tailor: training adapter');
  assert.equal(begin.cancellable, true);
  assert.equal(begin.message, path.basename(repo));
  await until(() => values.some((v) => v.kind === 'end'), TRAIN_TIMEOUT_MS, 'the end of the training progress');
  const end = values[values.length - 1] as WorkDoneProgressEnd;
  log(`training: ${values.length} progress values in ${Date.now() - t0} ms; end: ${end.message}`);
  assert.equal(end.kind, 'end');
  assert.match(end.message ?? '', /^adapter (trained and active|stored but not used: not better than the base model) \(held-out loss /);
  const reports = values.filter((v): v is WorkDoneProgressReport => v.kind === 'report');
  assert.ok(reports.length > 0, 'at least one report');
  assert.ok(reports.some((r) => typeof r.percentage === 'number' && r.percentage > 0), `a report with a percentage: ${JSON.stringify(reports)}`);
  assert.ok(values.slice(1, -1).every((v) => v.kind === 'report'), 'begin, reports, end');
  assert.ok(token.includes(reply.jobId!), `token ${token} names the job`);
  await until(() => shownMessages.some((m) => m.endsWith(end.message!)), 5_000, 'window/showMessage with the summary');
  const job = await until(() => { const j = lastJob(reply.jobId!); return j?.state === 'done' && j; }, 5_000, 'tailor/status with the job done');
  assert.equal(job.kind, 'train');
  assert.equal(job.budget, '20s');
  assert.equal(job.fraction, 1);
  assert.equal(job.message, end.message);
});

test('window/workDoneProgress/cancel stops a training job: it ends "cancelled" and nothing is saved', async () => {
  const known = new Set(progress.keys());
  const t0 = Date.now();
  const reply = (await withTimeout(
    conn.sendRequest(ExecuteCommandRequest.type, { command: 'tailor.trainAdapter', arguments: [{ uri, budget: '10m' }] }),
    10_000,
    'tailor.trainAdapter',
  )) as { jobId: string };
  // Cancel once the child process reports (a cancel before the process exists is not acted on).
  const [token, values] = await newProgress(known, 2, 30_000);
  await conn.sendNotification(WorkDoneProgressCancelNotification.type, { token });
  const t1 = Date.now();
  await until(() => values.some((v) => v.kind === 'end'), 60_000, 'the end of the cancelled progress');
  const end = values[values.length - 1] as WorkDoneProgressEnd;
  log(`cancelled training: end "${end.message}" ${Date.now() - t1} ms after the cancel (${Date.now() - t0} ms in all)`);
  assert.equal(end.message, 'training cancelled; nothing saved');
  const job = await until(() => { const j = lastJob(reply.jobId); return j && ['done', 'failed', 'cancelled'].includes(j.state) && j; }, 5_000, 'tailor/status with the job finished');
  assert.equal(job.state, 'cancelled');
});
