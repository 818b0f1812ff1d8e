// A small in-process stand-in for the `vscode` module: enough of the API for the bundled
// extension and vscode-languageclient to activate, start the server and register their
// providers. Unknown members resolve to no-op functions returning disposables, so the test
// exercises the extension's own wiring, not VS Code.

/* eslint-disable @typescript-eslint/no-explicit-any */
type Listener = (e: any) => any;

export class Disposable {
  constructor(private readonly fn: () => void = () => undefined) {}
  static from(...items: { dispose(): any }[]): Disposable {
    return new Disposable(() => items.forEach((i) => i?.dispose?.()));
  }
  dispose(): void {
    this.fn();
  }
}

export class EventEmitter<T> {
  private listeners: Listener[] = [];
  event = (listener: Listener): Disposable => {
    this.listeners.push(listener);
    return new Disposable(() => (this.listeners = this.listeners.filter((l) => l !== listener)));
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly authority: string,
    readonly path: string,
    readonly query = '',
    readonly fragment = '',
  ) {}
  static file(p: string): Uri {
    return new Uri('file', '', p);
  }
  static parse(s: string): Uri {
    const u = new URL(s);
    return new Uri(u.protocol.replace(':', ''), u.host, decodeURIComponent(u.pathname), u.search.replace('?', ''), u.hash.replace('#', ''));
  }
  get fsPath(): string {
    return this.path;
  }
  with(change: Partial<{ scheme: string; path: string }>): Uri {
    return new Uri(change.scheme ?? this.scheme, this.authority, change.path ?? this.path);
  }
  toString(): string {
    return `${this.scheme}://${this.authority}${encodeURI(this.path)}`;
  }
  toJSON(): any {
    return { scheme: this.scheme, path: this.path };
  }
}

export class Position {
  constructor(readonly line: number, readonly character: number) {}
  isEqual(o: Position): boolean {
    return o.line === this.line && o.character === this.character;
  }
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: any, b: any, c?: number, d?: number) {
    if (typeof a === 'number') {
      this.start = new Position(a, b);
      this.end = new Position(c!, d!);
    } else {
      this.start = a;
      this.end = b;
    }
  }
}

export class Location {
  constructor(readonly uri: Uri, readonly range: Range) {}
}
export class SnippetString {
  constructor(readonly value = '') {}
}
export class MarkdownString {
  constructor(readonly value = '') {}
}
export class InlineCompletionItem {
  filterText?: string;
  command?: any;
  constructor(public insertText: string | SnippetString, public range?: Range, command?: any) {
    this.command = command;
  }
}
export class InlineCompletionList {
  constructor(public items: InlineCompletionItem[]) {}
}
export class CancellationTokenSource {
  private emitter = new EventEmitter<void>();
  token = { isCancellationRequested: false, onCancellationRequested: this.emitter.event };
  cancel(): void {
    this.token.isCancellationRequested = true;
    this.emitter.fire();
  }
  dispose(): void {
    this.emitter.dispose();
  }
}
export class CancellationError extends Error {}
export class ThemeColor {
  constructor(readonly id: string) {}
}
export const InlineCompletionTriggerKind = { Invoke: 0, Automatic: 1 };
export const StatusBarAlignment = { Left: 1, Right: 2 };
export const ProgressLocation = { SourceControl: 1, Window: 10, Notification: 15 };
export const DiagnosticSeverity = { Error: 0, Warning: 1, Information: 2, Hint: 3 };
export const EndOfLine = { LF: 1, CRLF: 2 };
export const version = '1.82.0';

export class TextDocument {
  version = 1;
  isClosed = false;
  isDirty = false;
  isUntitled = false;
  eol = 1;
  constructor(readonly uri: Uri, readonly languageId: string, private text: string) {}
  get fileName(): string {
    return this.uri.fsPath;
  }
  get lineCount(): number {
    return this.text.split('\n').length;
  }
  getText(): string {
    return this.text;
  }
  offsetAt(p: Position): number {
    const lines = this.text.split('\n');
    let o = 0;
    for (let i = 0; i < p.line; i++) o += lines[i].length + 1;
    return o + p.character;
  }
  positionAt(offset: number): Position {
    const before = this.text.slice(0, offset).split('\n');
    return new Position(before.length - 1, before[before.length - 1].length);
  }
  lineAt(line: number): any {
    const text = this.text.split('\n')[line];
    return { text, range: new Range(line, 0, line, text.length) };
  }
}

/** What the test reads back. */
export const recorded = {
  inlineProviders: [] as { selector: any; provider: any }[],
  commands: new Map<string, (...args: any[]) => any>(),
  statusItems: [] as any[],
  output: [] as string[],
  messages: [] as string[],
  /** withProgress calls: options, reports, whether the task finished, and a cancel button. */
  progress: [] as { options: any; reports: any[]; done: boolean; cancel(): void }[],
  /** showInputBox calls (options); the box answers with `inputReply` (default: the prefilled value). */
  inputs: [] as any[],
  inputReply: undefined as ((options: any) => string | undefined) | undefined,
  /** showQuickPick calls (items and options); answered with `quickPickReply` (default: dismissed). */
  quickPicks: [] as { items: any[]; options: any }[],
  quickPickReply: undefined as ((items: any[], options: any) => any) | undefined,
  /** Buttons of showInformationMessage calls with buttons; `messageReply` chooses one (default: none). */
  messageButtons: [] as { message: string; buttons: string[] }[],
  messageReply: undefined as ((message: string, buttons: string[]) => string | undefined) | undefined,
};

let settings: Record<string, unknown> = {};
const configEmitter = new EventEmitter<any>();
const openEmitter = new EventEmitter<TextDocument>();
const documents: TextDocument[] = [];

export function setSettings(values: Record<string, unknown>, fire = false): void {
  const changed = Object.keys({ ...settings, ...values }).filter((k) => settings[k] !== values[k]);
  settings = { ...values };
  if (fire) {
    const affects = (s: string) => changed.some((k) => `tailor.${k}` === s || `tailor.${k}`.startsWith(s + '.') || s.startsWith(`tailor.${k}.`));
    configEmitter.fire({ affectsConfiguration: affects });
  }
}

export function openDocument(doc: TextDocument): void {
  documents.push(doc);
  openEmitter.fire(doc);
}

function noopEvent(): Disposable {
  return new Disposable();
}

function fallback(path: string): any {
  // Any unknown member: a callable that returns a disposable-ish proxy.
  const fn = function () {
    return fallback(path + '()');
  };
  return new Proxy(fn, {
    get(_t, prop) {
      if (prop === 'dispose') return () => undefined;
      if (prop === 'then') return undefined;
      if (prop === Symbol.toPrimitive) return () => path;
      if (prop === Symbol.iterator) return undefined;
      return fallback(`${path}.${String(prop)}`);
    },
  });
}

function withFallback<T extends object>(name: string, obj: T): T {
  return new Proxy(obj, {
    get(target, prop) {
      if (prop in target) return (target as any)[prop];
      if (typeof prop === 'string' && prop.startsWith('onDid')) return noopEvent;
      if (typeof prop === 'string' && prop.startsWith('onWill')) return noopEvent;
      if (typeof prop === 'string' && prop.startsWith('register')) return () => new Disposable();
      return fallback(`${name}.${String(prop)}`);
    },
  });
}

export const workspace = withFallback('workspace', {
  get workspaceFolders() {
    return undefined;
  },
  get textDocuments() {
    return documents;
  },
  onDidOpenTextDocument: openEmitter.event,
  onDidChangeConfiguration: configEmitter.event,
  getConfiguration(section?: string) {
    const prefix = section ? section + '.' : '';
    const lookup = (key: string) => settings[(prefix + key).replace(/^tailor\./, '')];
    return {
      get: (key: string, def?: unknown) => (lookup(key) !== undefined ? lookup(key) : def),
      has: (key: string) => lookup(key) !== undefined,
      inspect: (key: string) => ({ key, globalValue: lookup(key) }),
      update: async () => undefined,
    };
  },
  createFileSystemWatcher: () => ({ onDidCreate: noopEvent, onDidChange: noopEvent, onDidDelete: noopEvent, dispose: () => undefined }),
});

export const languages = withFallback('languages', {
  match(selector: any, doc: TextDocument): number {
    const list = Array.isArray(selector) ? selector : [selector];
    return list.some((s: any) => (typeof s === 'string' ? s === doc.languageId : (!s.language || s.language === doc.languageId) && (!s.scheme || s.scheme === doc.uri.scheme))) ? 10 : 0;
  },
  registerInlineCompletionItemProvider(selector: any, provider: any) {
    recorded.inlineProviders.push({ selector, provider });
    return new Disposable();
  },
  createDiagnosticCollection: () => ({ set: () => undefined, delete: () => undefined, clear: () => undefined, dispose: () => undefined, forEach: () => undefined }),
});

function outputChannel(name: string): any {
  return {
    name,
    append: (s: string) => recorded.output.push(s),
    appendLine: (s: string) => recorded.output.push(s),
    replace: () => undefined,
    clear: () => undefined,
    show: () => undefined,
    hide: () => undefined,
    dispose: () => undefined,
  };
}

export const window = withFallback('window', {
  activeTextEditor: undefined,
  visibleTextEditors: [],
  tabGroups: { all: [], onDidChangeTabs: noopEvent },
  createOutputChannel: outputChannel,
  createStatusBarItem() {
    const item = { text: '', tooltip: '', command: undefined, show: () => undefined, hide: () => undefined, dispose: () => undefined };
    recorded.statusItems.push(item);
    return item;
  },
  showInformationMessage: async (m: string, ...buttons: any[]) => {
    recorded.messages.push(`info: ${m}`);
    const labels = buttons.filter((b) => typeof b === 'string');
    if (!labels.length) return undefined;
    recorded.messageButtons.push({ message: m, buttons: labels });
    return recorded.messageReply ? recorded.messageReply(m, labels) : undefined;
  },
  showWarningMessage: async (m: string) => void recorded.messages.push(`warning: ${m}`),
  showErrorMessage: async (m: string) => void recorded.messages.push(`error: ${m}`),
  withProgress: async (options: any, task: any) => {
    const source = new CancellationTokenSource();
    const entry = { options, reports: [] as any[], done: false, cancel: () => source.cancel() };
    recorded.progress.push(entry);
    try {
      return await task({ report: (v: any) => entry.reports.push(v) }, source.token);
    } finally {
      entry.done = true;
    }
  },
  showQuickPick: async (items: any, options: any) => {
    const list = await items;
    recorded.quickPicks.push({ items: list, options });
    return recorded.quickPickReply ? recorded.quickPickReply(list, options) : undefined;
  },
  showInputBox: async (options: any) => {
    recorded.inputs.push(options);
    return recorded.inputReply ? recorded.inputReply(options) : options?.value;
  },
});

export const commands = withFallback('commands', {
  registerCommand(id: string, fn: (...args: any[]) => any) {
    if (recorded.commands.has(id)) throw new Error(`command '${id}' already exists`);
    recorded.commands.set(id, fn);
    return new Disposable(() => recorded.commands.delete(id));
  },
  async executeCommand(id: string, ...args: any[]) {
    const fn = recorded.commands.get(id);
    if (!fn) throw new Error(`command '${id}' not found`);
    return fn(...args);
  },
});

export const env = withFallback('env', { language: 'en', appName: 'vscode-mock', machineId: 'test', sessionId: 'test' });
/** The built-in git extension as the extension sees it (undefined: missing or disabled). */
export const git = { extension: undefined as any };
export const extensions = withFallback('extensions', {
  all: [],
  getExtension: (id: string) => (id === 'vscode.git' ? git.extension : undefined),
});

const genericClasses = new Map<string, any>();

/** The module object handed to `require('vscode')`: unknown classes become plain classes. */
export function asModule(mod: Record<string, unknown>): any {
  return new Proxy(mod, {
    get(target, prop) {
      if (prop in target) return target[prop as string];
      if (typeof prop !== 'string') return undefined;
      if (/^[A-Z]/.test(prop)) {
        if (!genericClasses.has(prop)) {
          // Enum-like objects (e.g. CompletionItemKind.Text) and classes alike.
          const cls = class {
            args: unknown[];
            constructor(...args: unknown[]) {
              this.args = args;
            }
          };
          genericClasses.set(prop, new Proxy(cls, { get: (t, p) => (p in t ? (t as any)[p] : 0) }));
        }
        return genericClasses.get(prop);
      }
      return fallback(prop);
    },
  });
}
