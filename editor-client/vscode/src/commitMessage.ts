// "Tailor: Write Commit Message" (tailor.fillCommitMessage, the $(sparkle) button in the
// Source Control view's title): picks a repository of the built-in git extension, runs the
// server's `tailor.commitMessage` with `{uri: <repository root>}` and puts the message into
// that repository's commit input box. No `vscode` import: the extension supplies the git
// extension, the request, the progress and the UI (see extension.ts), so all of it is
// unit-tested here.

/** The server command (DESIGN.md Contracts). */
export const SERVER_COMMIT_MESSAGE = 'tailor.commitMessage';
/** The VS Code command (its own id: the language client registers the server's). */
export const FILL_COMMIT_MESSAGE = 'tailor.fillCommitMessage';
export const FILL_COMMIT_MESSAGE_TITLE = 'Tailor: Write Commit Message';

/** A vscode.Uri, as far as this module needs one. */
export interface UriLike {
  toString(): string;
}

/** A repository of the git extension's API (vscode.git, API version 1). */
export interface GitRepositoryLike {
  readonly rootUri: UriLike;
  readonly inputBox: { value: string };
}

/** The git extension's API (`exports.getAPI(1)`). */
export interface GitApiLike {
  readonly state?: string;
  onDidChangeState?(listener: (state: string) => unknown): { dispose(): unknown };
  readonly repositories: readonly GitRepositoryLike[];
  getRepository?(uri: UriLike): GitRepositoryLike | null | undefined;
}

/** The git extension's exports (`vscode.extensions.getExtension('vscode.git')`). */
export interface GitExtensionLike {
  readonly isActive: boolean;
  readonly exports: GitExportsLike | undefined;
  /** A thenable of the exports (vscode.Extension.activate). */
  activate(): unknown;
}

export interface GitExportsLike {
  readonly enabled?: boolean;
  getAPI(version: 1): GitApiLike;
}

/** The server's answer (DESIGN.md Contracts: `tailor.commitMessage`). */
export interface CommitMessageResult {
  message: string;
  subject?: string;
  body?: string;
  diff?: 'staged' | 'unstaged';
  notice?: string | null;
  adapter?: string | null;
  files?: number;
}

export const NO_GIT_EXTENSION =
  'Tailor: the built-in Git extension (vscode.git) is not available, so there is no commit message box to fill. ' +
  'Enable it (Extensions view, search "@builtin git").';
export const GIT_DISABLED = 'Tailor: Git is disabled in VS Code (setting git.enabled); enable it to write commit messages.';
export const NO_REPOSITORY = 'Tailor: no git repository is open in the Source Control view.';

function key(uri: UriLike): string {
  return uri.toString().replace(/\/+$/, '');
}

/** Does `uri` lie inside (or equal) the folder `root`? */
export function isInside(uri: UriLike, root: UriLike): boolean {
  const u = key(uri);
  const r = key(root);
  return u === r || u.startsWith(r + '/');
}

function rootUriOf(arg: unknown): UriLike | undefined {
  if (!arg || typeof arg !== 'object') return undefined;
  const root = (arg as { rootUri?: unknown }).rootUri;
  return root && typeof root === 'object' && typeof (root as UriLike).toString === 'function' ? (root as UriLike) : undefined;
}

/**
 * The repository to write a message for:
 * 1. the one whose root is the SourceControl VS Code passes to an scm/title command
 *    (`arg.rootUri`);
 * 2. else the repository of the active editor's file (the git API's getRepository, else the
 *    repository with the longest root that holds the file);
 * 3. else the first (usually the only) repository.
 */
export function pickRepository(api: GitApiLike, scmArg: unknown, activeUri: UriLike | undefined): GitRepositoryLike | undefined {
  const repos = api.repositories ?? [];
  const root = rootUriOf(scmArg);
  if (root) {
    const found = repos.find((r) => key(r.rootUri) === key(root));
    if (found) return found;
  }
  if (activeUri) {
    try {
      const r = api.getRepository?.(activeUri);
      if (r) return r;
    } catch {
      // an API without getRepository for this URI: fall back to the roots
    }
    let best: GitRepositoryLike | undefined;
    for (const r of repos) {
      if (isInside(activeUri, r.rootUri) && (!best || key(r.rootUri).length > key(best.rootUri).length)) best = r;
    }
    if (best) return best;
  }
  return repos[0];
}

/** The git API from the git extension, or a message saying why there is none. */
export async function gitApiOf(ext: GitExtensionLike | undefined, initTimeoutMs = 5000): Promise<GitApiLike | string> {
  if (!ext) return NO_GIT_EXTENSION;
  let gitExports: GitExportsLike | undefined;
  try {
    gitExports = ext.isActive ? ext.exports : ((await ext.activate()) as GitExportsLike | undefined);
  } catch (e) {
    return `Tailor: the Git extension could not be activated: ${errorMessage(e)}`;
  }
  if (!gitExports || typeof gitExports.getAPI !== 'function') return NO_GIT_EXTENSION;
  if (gitExports.enabled === false) return GIT_DISABLED;
  let api: GitApiLike;
  try {
    api = gitExports.getAPI(1);
  } catch (e) {
    return `Tailor: the Git extension's API is not available: ${errorMessage(e)}`;
  }
  // Right after activation the git extension may still be looking for repositories.
  if (api.state === 'uninitialized' && typeof api.onDidChangeState === 'function') {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, initTimeoutMs);
      const sub = api.onDidChangeState!((state) => {
        if (state === 'initialized') done();
      });
      function done(): void {
        clearTimeout(timer);
        sub?.dispose();
        resolve();
      }
    });
  }
  return api;
}

/** Check the server's answer; throws when it has no message. */
export function parseCommitMessageResult(result: unknown): CommitMessageResult {
  const r = result && typeof result === 'object' ? (result as Record<string, unknown>) : undefined;
  const message = typeof r?.message === 'string' ? r.message.replace(/\s+$/, '') : '';
  if (!message.trim()) throw new Error('the server returned no commit message');
  return { ...(r as object), message } as CommitMessageResult;
}

export interface CommitMessageUi {
  info(message: string): void;
  error(message: string): void;
  warn(message: string): void;
}

/**
 * Put the message into the repository's input box and show the server's notice. `before` is
 * the box's text when the request was sent: when the user changed it meanwhile (and it is
 * not empty), their text stays and the message is not written. Returns whether it was written.
 */
export function applyCommitMessage(repo: GitRepositoryLike, result: CommitMessageResult, ui: CommitMessageUi, before?: string): boolean {
  if (result.notice) ui.info(`Tailor: ${result.notice}`);
  const now = repo.inputBox.value;
  if (before !== undefined && now !== before && now.trim() !== '') {
    ui.warn('Tailor: the commit message was edited while Tailor was writing one; left as it is.');
    return false;
  }
  repo.inputBox.value = result.message;
  return true;
}

export interface FillCommitMessageDeps {
  /** The git extension's API, or a message saying why there is none (see gitApiOf). */
  gitApi(): Promise<GitApiLike | string>;
  /** The first argument of the command: the SourceControl from scm/title, if any. */
  scmArg?: unknown;
  /** The active editor's document URI, if any. */
  activeUri?: UriLike;
  /** workspace/executeCommand on the server with the one argument object. */
  execute(command: string, arg: Record<string, unknown>): Promise<unknown>;
  /** Show progress (in the Source Control view) while the task runs. */
  withProgress<T>(title: string, task: () => Promise<T>): Promise<T>;
  ui: CommitMessageUi;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : typeof e === 'object' && e && 'message' in e ? String((e as { message: unknown }).message) : String(e);
}

/**
 * The whole command: pick the repository, ask the server (with progress), fill the input box.
 * Every failure is shown (errors as error messages) and resolves to undefined; never throws.
 */
export async function fillCommitMessage(deps: FillCommitMessageDeps): Promise<CommitMessageResult | undefined> {
  const api = await deps.gitApi();
  if (typeof api === 'string') {
    deps.ui.error(api);
    return undefined;
  }
  const repo = pickRepository(api, deps.scmArg, deps.activeUri);
  if (!repo) {
    deps.ui.error(NO_REPOSITORY);
    return undefined;
  }
  const before = repo.inputBox.value;
  let result: CommitMessageResult;
  try {
    result = await deps.withProgress('Tailor: writing a commit message', async () =>
      parseCommitMessageResult(await deps.execute(SERVER_COMMIT_MESSAGE, { uri: repo.rootUri.toString() })),
    );
  } catch (e) {
    deps.ui.error(`Tailor: ${SERVER_COMMIT_MESSAGE} failed: ${errorMessage(e)}`);
    return undefined;
  }
  applyCommitMessage(repo, result, deps.ui, before);
  return result;
}
