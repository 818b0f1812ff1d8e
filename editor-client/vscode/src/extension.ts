// Tailor for VS Code: starts `tailor serve` (stdio) with vscode-languageclient, shows its
// inline completions (LSP 3.18 textDocument/inlineCompletion, through the client's proposed
// features), a status-bar item fed by `tailor/status`, the commands of src/commands.ts (Select
// Model's QuickPick in src/selectModel.ts), the server's training progress as a cancellable
// notification (src/progress.ts), and the commit-message button of the Source Control view
// (src/commitMessage.ts).
import * as os from 'os';
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
  WorkDoneProgressCancelNotification,
} from 'vscode-languageclient/node';

import {
  CLIENT_ACCEPTED_COMMAND,
  COMMANDS,
  CommandContext,
  CommandUi,
  isServerRegistered,
  lspInlineTriggerKind,
  runCommand,
  serverRegisteredCommand,
  wrapAcceptCommand,
} from './commands';
import { FILL_COMMIT_MESSAGE, fillCommitMessage, GitExportsLike, gitApiOf } from './commitMessage';
import { ProgressHandle, ProgressUi, WorkDoneProgressTracker } from './progress';
import { SELECT_MODEL_TITLE } from './selectModel';
import { buildServerSettings, serverCommand } from './settings';
import { ClientState, statusBarText, TailorStatus } from './status';

/** Languages the server is started for (also the activation events in package.json). */
export const LANGUAGES = [
  'python', 'lua', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact',
  'go', 'rust', 'c', 'cpp', 'java', 'shellscript', 'ruby', 'git-commit',
];

let client: LanguageClient | undefined;
let output: vscode.OutputChannel;
let statusItem: vscode.StatusBarItem;
let lastStatus: TailorStatus | undefined;
let clientState: ClientState = 'starting';
let progress: WorkDoneProgressTracker | undefined;

function readSetting(key: string): unknown {
  const i = vscode.workspace.getConfiguration('tailor').inspect(key);
  if (!i) return undefined;
  return i.workspaceFolderValue ?? i.workspaceValue ?? i.globalValue;
}

function serverSettings(): Record<string, unknown> {
  return buildServerSettings(readSetting);
}

function completionEnabled(): boolean {
  return vscode.workspace.getConfiguration('tailor').get<boolean>('completion.enable', true);
}

function updateStatusItem(): void {
  const t = statusBarText(clientState, lastStatus);
  statusItem.text = t.text;
  statusItem.tooltip = t.tooltip;
  statusItem.show();
}

const ui: CommandUi = {
  info: (m) => void vscode.window.showInformationMessage(m),
  error: (m) => void vscode.window.showErrorMessage(m),
  show: (text) => {
    output.appendLine(text);
  },
  input: (prompt, value, validate) =>
    Promise.resolve(vscode.window.showInputBox({ prompt, value, validateInput: validate ? (text) => validate(text) : undefined })),
  pick: (items, placeholder) =>
    Promise.resolve(
      vscode.window.showQuickPick(items, { title: SELECT_MODEL_TITLE, placeHolder: placeholder, matchOnDescription: true, matchOnDetail: true }),
    ),
  ask: (message, ...actions) => Promise.resolve(vscode.window.showInformationMessage(message, ...actions)),
};

function commandContext(args: unknown[]): CommandContext {
  return {
    activeUri: vscode.window.activeTextEditor?.document.uri.toString(),
    ui,
    onStatus: (s) => {
      lastStatus = s;
      updateStatusItem();
    },
    args,
    setting: (key) => vscode.workspace.getConfiguration('tailor').get(key),
  };
}

/** A cancellable progress notification (vscode.window.withProgress) driven by the tracker. */
const progressUi: ProgressUi = {
  begin(title, cancellable, onCancel): ProgressHandle {
    let report: ((v: { message?: string; increment?: number }) => void) | undefined;
    let finish: (() => void) | undefined;
    let finished = false;
    const early: { message?: string; increment?: number }[] = [];
    void vscode.window.withProgress(
      { location: cancellable ? vscode.ProgressLocation.Notification : vscode.ProgressLocation.Window, title, cancellable },
      (p, token) => {
        token.onCancellationRequested(() => onCancel());
        report = (v) => p.report(v);
        for (const v of early.splice(0)) p.report(v);
        return new Promise<void>((resolve) => {
          finish = resolve;
          if (finished) resolve();
        });
      },
    );
    return {
      report(message, increment) {
        const v = { message, increment };
        if (report) report(v);
        else early.push(v);
      },
      done() {
        finished = true;
        finish?.();
      },
    };
  },
};

function createClient(): LanguageClient {
  const cfg = vscode.workspace.getConfiguration('tailor');
  const { command, args } = serverCommand(cfg.get<string>('serverPath'), os.homedir());
  const serverOptions: ServerOptions = {
    run: { command, args, transport: TransportKind.stdio },
    debug: { command, args, transport: TransportKind.stdio },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: LANGUAGES.flatMap((language) => [
      { scheme: 'file', language },
      { scheme: 'untitled', language },
    ]),
    initializationOptions: () => serverSettings(),
    outputChannel: output,
    middleware: {
      // A table command whose id is the server's command name (tailor.trainAdapter,
      // tailor.selectModel) is registered by the language client; run it through its table
      // entry (argument builder and result handler, or its own run) instead of forwarding
      // the raw arguments.
      executeCommand: async (command, args, next) => {
        const cmd = serverRegisteredCommand(command);
        const c = client;
        if (!cmd || !c) return next(command, args);
        return runCommand(cmd, commandContext(args), { sendRequest: (m, p) => c.sendRequest(m, p) });
      },
      // Cancellable server progress (training) as a notification with a cancel button; the
      // language client's own part is still told about the end, so that it cleans up.
      handleWorkDoneProgress: (token, params, next) => {
        const shown = progress?.handle(token, params) ?? false;
        if (!shown || params.kind === 'end') next(token, params);
      },
      provideInlineCompletionItems: async (document, position, context, token, next) => {
        if (!completionEnabled()) return undefined;
        // The converter copies triggerKind as is; send LSP 3.18's value (see lspInlineTriggerKind).
        const lspContext = { ...context, triggerKind: lspInlineTriggerKind(context.triggerKind) as vscode.InlineCompletionTriggerKind };
        const result = await next(document, position, lspContext, token);
        if (!result) return result;
        const items = Array.isArray(result) ? result : result.items;
        for (const item of items) {
          item.command = wrapAcceptCommand(item.command as vscode.Command | undefined) as vscode.Command | undefined;
        }
        return result;
      },
      workspace: {
        // The server pulling `tailor` gets the same mapped object as the push below.
        configuration: async (params, token, next) => {
          const result = (await next(params, token)) as unknown[];
          return params.items.map((item, i) => (item.section === 'tailor' ? serverSettings() : result?.[i]));
        },
      },
    },
  };
  const c = new LanguageClient('tailor', 'Tailor', serverOptions, clientOptions);
  // textDocument/inlineCompletion is a proposed (3.18) feature in vscode-languageclient 9.
  c.registerProposedFeatures();
  c.onDidChangeState((e) => {
    clientState = e.newState === State.Running ? 'running' : e.newState === State.Starting ? 'starting' : 'stopped';
    if (e.newState === State.Stopped) progress?.clear();
    updateStatusItem();
  });
  return c;
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  client = createClient();
  try {
    await client.start();
  } catch (e) {
    clientState = 'error';
    updateStatusItem();
    const msg = e instanceof Error ? e.message : String(e);
    output.appendLine(`Tailor: could not start the server: ${msg}`);
    void vscode.window.showErrorMessage(
      `Tailor: could not start "${serverCommand(vscode.workspace.getConfiguration('tailor').get('serverPath')).command} serve". ` +
        'Set tailor.serverPath to the tailor executable of your Tailor environment.',
    );
    return;
  }
  context.subscriptions.push(
    client.onNotification('tailor/status', (s: TailorStatus) => {
      lastStatus = s;
      updateStatusItem();
    }),
  );
}

async function stopClient(): Promise<void> {
  const c = client;
  client = undefined;
  if (c) {
    try {
      await c.stop();
    } catch {
      // already stopped
    }
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('Tailor');
  statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  statusItem.command = 'tailor.showStatus';
  context.subscriptions.push(output, statusItem);
  updateStatusItem();
  progress = new WorkDoneProgressTracker(progressUi, (token) => {
    const c = client;
    if (c && c.isRunning()) {
      void c.sendNotification(WorkDoneProgressCancelNotification.type, { token }).catch((e) => output.appendLine(`Tailor: cancel failed: ${String(e)}`));
    }
  });

  for (const cmd of COMMANDS) {
    if (isServerRegistered(cmd)) continue;
    context.subscriptions.push(
      vscode.commands.registerCommand(cmd.id, async (...args: unknown[]) => {
        if (!client || !client.isRunning()) {
          void vscode.window.showWarningMessage('Tailor: the server is not running. See the Tailor output.');
          return;
        }
        const c = client;
        return runCommand(cmd, commandContext(args), { sendRequest: (m, p) => c.sendRequest(m, p) });
      }),
    );
  }
  context.subscriptions.push(
    vscode.commands.registerCommand(CLIENT_ACCEPTED_COMMAND, async (serverCommandName: string, ...args: unknown[]) => {
      if (!client || !client.isRunning()) return;
      try {
        await client.sendRequest(ExecuteCommandRequest.type, { command: serverCommandName, arguments: args });
      } catch (e) {
        output.appendLine(`Tailor: ${serverCommandName} failed: ${String(e)}`);
      }
    }),
    // The $(sparkle) button in the Source Control title bar (scm/title passes the
    // SourceControl, whose rootUri names the repository) and the command palette.
    vscode.commands.registerCommand(FILL_COMMIT_MESSAGE, async (scmArg?: unknown) => {
      const c = client;
      if (!c || !c.isRunning()) {
        void vscode.window.showWarningMessage('Tailor: the server is not running. See the Tailor output.');
        return undefined;
      }
      return fillCommitMessage({
        gitApi: () => gitApiOf(vscode.extensions.getExtension<GitExportsLike>('vscode.git')),
        scmArg,
        activeUri: vscode.window.activeTextEditor?.document.uri,
        execute: (command, arg) => c.sendRequest(ExecuteCommandRequest.type, { command, arguments: [arg] }),
        withProgress: (title, task) =>
          Promise.resolve(vscode.window.withProgress({ location: vscode.ProgressLocation.SourceControl, title }, () => task())),
        ui: {
          info: (m) => void vscode.window.showInformationMessage(m),
          warn: (m) => void vscode.window.showWarningMessage(m),
          error: (m) => void vscode.window.showErrorMessage(m),
        },
      });
    }),
    vscode.commands.registerCommand('tailor.restartServer', async () => {
      await stopClient();
      clientState = 'starting';
      lastStatus = undefined;
      updateStatusItem();
      await startClient(context);
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!e.affectsConfiguration('tailor')) return;
      if (e.affectsConfiguration('tailor.serverPath')) {
        await vscode.commands.executeCommand('tailor.restartServer');
        return;
      }
      if (client && client.isRunning()) {
        await client.sendNotification(DidChangeConfigurationNotification.type, { settings: { tailor: serverSettings() } });
      }
    }),
  );

  await startClient(context);
}

export async function deactivate(): Promise<void> {
  await stopClient();
}
