import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import {
  applyCommitMessage,
  CommitMessageUi,
  FillCommitMessageDeps,
  fillCommitMessage,
  GIT_DISABLED,
  GitApiLike,
  gitApiOf,
  GitExportsLike,
  GitRepositoryLike,
  isInside,
  NO_GIT_EXTENSION,
  NO_REPOSITORY,
  parseCommitMessageResult,
  pickRepository,
} from '../../src/commitMessage';

/** A URI as vscode.Uri prints it. */
function uri(s: string) {
  return { toString: () => s };
}

function repo(root: string, value = ''): GitRepositoryLike {
  return { rootUri: uri(root), inputBox: { value } };
}

function api(repos: GitRepositoryLike[], extra: Partial<GitApiLike> = {}): GitApiLike {
  return { repositories: repos, ...extra };
}

function recordingUi() {
  const seen = { info: [] as string[], warn: [] as string[], error: [] as string[] };
  const ui: CommitMessageUi = {
    info: (m) => seen.info.push(m),
    warn: (m) => seen.warn.push(m),
    error: (m) => seen.error.push(m),
  };
  return { ui, seen };
}

const RESULT = {
  message: 'Add the parser\n\nIt reads the config file.',
  subject: 'Add the parser',
  body: 'It reads the config file.',
  diff: 'staged',
  notice: null,
  adapter: null,
  files: 2,
};

test('isInside: a file or folder inside a root, not a sibling with a longer name', () => {
  assert.equal(isInside(uri('file:///w/app/src/a.py'), uri('file:///w/app')), true);
  assert.equal(isInside(uri('file:///w/app'), uri('file:///w/app/')), true);
  assert.equal(isInside(uri('file:///w/app2/a.py'), uri('file:///w/app')), false);
});

test('pickRepository: the SourceControl argument of scm/title wins', () => {
  const a = repo('file:///w/a');
  const b = repo('file:///w/b');
  assert.equal(pickRepository(api([a, b]), { id: 'git', rootUri: uri('file:///w/b') }, uri('file:///w/a/x.py')), b);
  // An argument without a known root falls back to the active editor.
  assert.equal(pickRepository(api([a, b]), { rootUri: uri('file:///elsewhere') }, uri('file:///w/a/x.py')), a);
  assert.equal(pickRepository(api([a, b]), 'not a source control', uri('file:///w/b/x.py')), b);
});

test("pickRepository: the active editor's repository (git API first, else the longest root)", () => {
  const outer = repo('file:///w/outer');
  const inner = repo('file:///w/outer/vendor/inner');
  assert.equal(pickRepository(api([outer, inner]), undefined, uri('file:///w/outer/vendor/inner/lib.c')), inner);
  assert.equal(pickRepository(api([inner, outer]), undefined, uri('file:///w/outer/main.c')), outer);
  const viaApi = api([outer, inner], { getRepository: () => outer });
  assert.equal(pickRepository(viaApi, undefined, uri('file:///w/outer/vendor/inner/lib.c')), outer);
  const throwing = api([outer, inner], {
    getRepository: () => {
      throw new Error('no');
    },
  });
  assert.equal(pickRepository(throwing, undefined, uri('file:///w/outer/vendor/inner/lib.c')), inner);
});

test('pickRepository: else the first repository; none without repositories', () => {
  const a = repo('file:///w/a');
  const b = repo('file:///w/b');
  assert.equal(pickRepository(api([a, b]), undefined, undefined), a);
  assert.equal(pickRepository(api([a, b]), undefined, uri('untitled:Untitled-1')), a);
  assert.equal(pickRepository(api([]), { rootUri: uri('file:///w/a') }, uri('file:///w/a/x')), undefined);
});

test('gitApiOf: a missing, disabled, failing or still-initialising git extension', async () => {
  assert.equal(await gitApiOf(undefined), NO_GIT_EXTENSION);
  const disabled: GitExportsLike = { enabled: false, getAPI: () => api([]) };
  assert.equal(await gitApiOf({ isActive: true, exports: disabled, activate: async () => disabled }), GIT_DISABLED);
  const broken = { isActive: false, exports: undefined, activate: async () => Promise.reject(new Error('boom')) };
  assert.match(String(await gitApiOf(broken)), /could not be activated: boom/);
  const throwing: GitExportsLike = {
    getAPI: () => {
      throw new Error('Git model not found');
    },
  };
  assert.match(String(await gitApiOf({ isActive: true, exports: throwing, activate: async () => throwing })), /Git model not found/);

  // Activated on demand; waits for the API to finish its first scan of repositories.
  let listener: ((s: string) => unknown) | undefined;
  let disposed = false;
  const late = {
    state: 'uninitialized',
    repositories: [] as GitRepositoryLike[],
    onDidChangeState: (l: (s: string) => unknown) => ((listener = l), { dispose: () => (disposed = true) }),
  };
  const exportsLate: GitExportsLike = { enabled: true, getAPI: () => late };
  let activated = 0;
  const pending = gitApiOf({ isActive: false, exports: undefined, activate: async () => (activated++, exportsLate) });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(activated, 1);
  late.repositories.push(repo('file:///w/a'));
  listener!('initialized');
  const got = (await pending) as GitApiLike;
  assert.equal(got.repositories.length, 1);
  assert.equal(disposed, true);
  // ...but not forever.
  const stuck = { state: 'uninitialized', repositories: [], onDidChangeState: () => ({ dispose: () => undefined }) };
  const started = Date.now();
  assert.equal(await gitApiOf({ isActive: true, exports: { getAPI: () => stuck }, activate: async () => undefined }, 30), stuck);
  assert.ok(Date.now() - started < 1000);
});

test('parseCommitMessageResult: a message is required; trailing blanks are dropped', () => {
  assert.equal(parseCommitMessageResult({ ...RESULT, message: 'Fix it\n\n' }).message, 'Fix it');
  assert.equal(parseCommitMessageResult(RESULT).files, 2);
  for (const bad of [null, undefined, 'text', {}, { message: '  \n' }, { message: 3 }]) {
    assert.throws(() => parseCommitMessageResult(bad), /no commit message/, JSON.stringify(bad));
  }
});

test('applyCommitMessage: fills the input box, shows the notice, keeps text typed meanwhile', () => {
  const r = repo('file:///w/a', 'old draft');
  const { ui, seen } = recordingUi();
  assert.equal(applyCommitMessage(r, parseCommitMessageResult(RESULT), ui, 'old draft'), true);
  assert.equal(r.inputBox.value, RESULT.message);
  assert.deepEqual(seen, { info: [], warn: [], error: [] });

  const notice = { ...RESULT, diff: 'unstaged' as const, notice: 'nothing is staged: described the unstaged changes' };
  const r2 = repo('file:///w/a');
  assert.equal(applyCommitMessage(r2, notice, ui, ''), true);
  assert.deepEqual(seen.info, ['Tailor: nothing is staged: described the unstaged changes']);

  const typed = repo('file:///w/a', 'my own words');
  assert.equal(applyCommitMessage(typed, parseCommitMessageResult(RESULT), ui, ''), false);
  assert.equal(typed.inputBox.value, 'my own words');
  assert.match(seen.warn[0], /edited while/);
  // Cleared meanwhile: still filled.
  const cleared = repo('file:///w/a', '');
  assert.equal(applyCommitMessage(cleared, parseCommitMessageResult(RESULT), ui, 'draft'), true);
  assert.equal(cleared.inputBox.value, RESULT.message);
});

function deps(over: Partial<FillCommitMessageDeps> & { repos?: GitRepositoryLike[] }) {
  const { ui, seen } = recordingUi();
  const sent: unknown[] = [];
  const progress: string[] = [];
  const d: FillCommitMessageDeps = {
    gitApi: async () => api(over.repos ?? []),
    execute: async (command, arg) => (sent.push([command, arg]), RESULT),
    withProgress: async (title, task) => {
      progress.push(title);
      return task();
    },
    ui,
    ...over,
  };
  return { d, seen, sent, progress };
}

test("fillCommitMessage: runs tailor.commitMessage with the repository root and fills that repository's box", async () => {
  const a = repo('file:///w/a');
  const b = repo('file:///w/b');
  const { d, seen, sent, progress } = deps({ repos: [a, b], scmArg: { rootUri: uri('file:///w/b') } });
  const result = await fillCommitMessage(d);
  assert.equal(result?.subject, 'Add the parser');
  assert.deepEqual(sent, [['tailor.commitMessage', { uri: 'file:///w/b' }]]);
  assert.deepEqual(progress, ['Tailor: writing a commit message']);
  assert.equal(b.inputBox.value, RESULT.message);
  assert.equal(a.inputBox.value, '');
  assert.deepEqual(seen.error, []);
});

test('fillCommitMessage: no git extension, no repository, a server error, an empty answer', async () => {
  let t = deps({ gitApi: async () => NO_GIT_EXTENSION });
  assert.equal(await fillCommitMessage(t.d), undefined);
  assert.deepEqual(t.seen.error, [NO_GIT_EXTENSION]);
  assert.deepEqual(t.sent, []);

  t = deps({ repos: [] });
  assert.equal(await fillCommitMessage(t.d), undefined);
  assert.deepEqual(t.seen.error, [NO_REPOSITORY]);
  assert.deepEqual(t.sent, []);

  const a = repo('file:///w/a', 'draft');
  t = deps({
    repos: [a],
    // vscode-languageclient rejects with a ResponseError carrying the server's message.
    execute: async () => Promise.reject({ code: -32803, message: 'not a git repository: /w/a' }),
  });
  assert.equal(await fillCommitMessage(t.d), undefined);
  assert.deepEqual(t.seen.error, ['Tailor: tailor.commitMessage failed: not a git repository: /w/a']);
  assert.equal(a.inputBox.value, 'draft');

  t = deps({ repos: [a], execute: async () => null });
  assert.equal(await fillCommitMessage(t.d), undefined);
  assert.deepEqual(t.seen.error, ['Tailor: tailor.commitMessage failed: the server returned no commit message']);
  assert.equal(a.inputBox.value, 'draft');
});
