// The table of Tailor's commands: a VS Code command id, the server command it runs through
// `workspace/executeCommand` (one object argument, DESIGN.md Contracts), an argument
// builder and a result handler. No `vscode` import: the extension supplies the context
// and the UI. Adding a command is one entry here plus its `contributes.commands` entry in
// package.json (`npm run compile && npm run sync:package`; a unit test checks that they match).

import { FILL_COMMIT_MESSAGE, FILL_COMMIT_MESSAGE_TITLE } from './commitMessage';
import { ModelPickItem, SELECT_MODEL, SELECT_MODEL_TITLE, selectModel } from './selectModel';
import { describeStatus, shortStatus, TailorStatus } from './status';

export interface CommandUi {
  info(message: string): void;
  error(message: string): void;
  /** Show a longer text (output channel). */
  show(text: string): void;
  /** Ask for a line of text; undefined when cancelled. validate returns an error message or undefined. */
  input(prompt: string, value?: string, validate?: (text: string) => string | undefined): Promise<string | undefined>;
  /** A QuickPick of model candidates; undefined when dismissed. */
  pick(items: ModelPickItem[], placeholder: string): Promise<ModelPickItem | undefined>;
  /** An information message with buttons; the button chosen, or undefined. */
  ask(message: string, ...actions: string[]): Promise<string | undefined>;
}

export interface CommandContext {
  /** URI of the active editor's document, if any. */
  activeUri?: string;
  ui: CommandUi;
  /** Called with a status object whenever a command returns one. */
  onStatus?(status: TailorStatus): void;
  /** Arguments the VS Code command was executed with (keybindings, other extensions, tests). */
  args?: unknown[];
  /** A `tailor.*` setting (key without the prefix, e.g. "training.budget"). */
  setting?(key: string): unknown;
}

export const DEFAULT_BUDGET = '10m';

/**
 * Check a training budget as the server does (adapters/train.py Budget.parse): "90s", "10m",
 * "1h", or "200k-tokens", "5000-tokens", "1m-tokens". Returns an error message, or undefined.
 */
export function budgetError(text: string): string | undefined {
  const s = text.trim().toLowerCase();
  const duration = /^(\d+(?:\.\d+)?)\s*(s|m|h)$/.exec(s);
  if (duration && Number(duration[1]) > 0) return undefined;
  const tokens = /^(\d+(?:\.\d+)?)\s*([km]?)[-\s]?tokens$/.exec(s);
  if (tokens && Math.floor(Number(tokens[1]) * (tokens[2] === 'm' ? 1_000_000 : tokens[2] === 'k' ? 1_000 : 1)) > 0) return undefined;
  return `bad training budget "${text.trim()}": give a positive duration such as 90s, 10m or 1h, or a token count such as 200k-tokens`;
}

/** The object of the first command argument, if any. */
function firstObject(args: unknown[] | undefined): Record<string, unknown> | undefined {
  const a = args?.[0];
  return a && typeof a === 'object' && !Array.isArray(a) ? (a as Record<string, unknown>) : undefined;
}

export interface TailorCommand {
  /**
   * VS Code command id (contributes.commands). When it equals serverCommand, the language
   * client registers it (it registers every command of the server's executeCommandProvider,
   * and VS Code refuses a second registration); the extension's executeCommand middleware
   * then runs it through this entry (see isServerRegistered).
   */
  id: string;
  title: string;
  /** Server command (workspace/executeCommand). */
  serverCommand: string;
  /** The single argument object; undefined cancels the command. */
  args(ctx: CommandContext): Promise<Record<string, unknown> | undefined> | Record<string, unknown> | undefined;
  onResult(result: unknown, ctx: CommandContext, arg: Record<string, unknown>): void;
  /**
   * A command that needs more than one request (ask, let the user choose, act) runs itself
   * instead: runCommand calls this in place of args / request / onResult.
   */
  run?(ctx: CommandContext, sender: RequestSender): Promise<unknown>;
}

export const COMMANDS: TailorCommand[] = [
  {
    id: 'tailor.showStatus',
    title: 'Tailor: Show Status',
    serverCommand: 'tailor.status',
    args: () => ({}),
    onResult: (result, ctx) => {
      const status = result as TailorStatus;
      ctx.onStatus?.(status);
      ctx.ui.show(describeStatus(status));
      ctx.ui.info(`Tailor: ${shortStatus(status) ?? 'no status'}`);
    },
  },
  {
    // Progress comes as server-initiated work done progress (a notification with a cancel
    // button, see src/progress.ts) and the result as the server's window/showMessage.
    id: 'tailor.trainAdapter',
    title: 'Tailor: Train Adapter',
    serverCommand: 'tailor.trainAdapter',
    args: async (ctx) => {
      const given = firstObject(ctx.args);
      let budget = typeof given?.budget === 'string' ? given.budget : undefined;
      if (budget === undefined) {
        const setting = ctx.setting?.('training.budget');
        budget = await ctx.ui.input(
          'Tailor: training budget (90s, 10m, 1h or 200k-tokens)',
          typeof setting === 'string' && setting ? setting : DEFAULT_BUDGET,
          budgetError,
        );
        if (budget === undefined) return undefined;
      }
      const error = budgetError(budget);
      if (error) {
        ctx.ui.error(`Tailor: ${error}`);
        return undefined;
      }
      const arg: Record<string, unknown> = { budget: budget.trim() };
      const uri = typeof given?.uri === 'string' ? given.uri : ctx.activeUri;
      if (uri && uri.startsWith('file:')) arg.uri = uri;
      return arg;
    },
    onResult: (result, ctx, arg) => {
      const jobId = result && typeof result === 'object' ? (result as { jobId?: unknown }).jobId : undefined;
      ctx.ui.show(`Tailor: training job ${String(jobId ?? '?')} started (budget ${String(arg.budget)}, ${String(arg.uri ?? 'workspace folder')})`);
    },
  },
  {
    // The ranking in a QuickPick, then {apply: id} or {refresh: true}: see src/selectModel.ts.
    id: SELECT_MODEL,
    title: SELECT_MODEL_TITLE,
    serverCommand: SELECT_MODEL,
    args: () => ({}),
    onResult: () => undefined,
    run: (ctx, sender) =>
      selectModel({
        execute: (command, args) => sender.sendRequest('workspace/executeCommand', { command, arguments: args }),
        ui: ctx.ui,
        args: ctx.args,
      }),
  },
];

/** Registered by the language client (same id as the server command), not by the extension. */
export function isServerRegistered(cmd: TailorCommand): boolean {
  return cmd.id === cmd.serverCommand;
}

/** The table entry behind a command the language client registered, if any. */
export function serverRegisteredCommand(command: string): TailorCommand | undefined {
  return COMMANDS.find((c) => isServerRegistered(c) && c.id === command);
}

/** The command that each inline completion item carries. */
export const ACCEPTED_COMMAND = 'tailor.accepted';
/** Client-side command the extension puts on items instead; it forwards to ACCEPTED_COMMAND. */
export const CLIENT_ACCEPTED_COMMAND = 'tailor.client.accepted';

/** Anything that can send a request to the server. */
export interface RequestSender {
  sendRequest(method: string, params: unknown): Promise<unknown>;
}

/** Run one command of the table: build the argument, execute on the server, handle the result. */
export async function runCommand(cmd: TailorCommand, ctx: CommandContext, sender: RequestSender): Promise<unknown> {
  if (cmd.run) {
    try {
      return await cmd.run(ctx, sender);
    } catch (e) {
      ctx.ui.error(`Tailor: ${cmd.serverCommand} failed: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }
  const arg = await cmd.args(ctx);
  if (arg === undefined) return undefined;
  try {
    const result = await sender.sendRequest('workspace/executeCommand', {
      command: cmd.serverCommand,
      arguments: [arg],
    });
    cmd.onResult(result, ctx, arg);
    return result;
  } catch (e) {
    ctx.ui.error(`Tailor: ${cmd.serverCommand} failed: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

export interface CommandLike {
  title: string;
  command: string;
  arguments?: unknown[];
}

/**
 * Inline items carry `command: tailor.accepted`. The extension swaps it for a client command
 * that forwards to the server, so acceptance is recorded even where VS Code has not
 * registered the server's commands. Returns the command to put on the item.
 */
export function wrapAcceptCommand(command: CommandLike | undefined): CommandLike | undefined {
  if (!command || command.command !== ACCEPTED_COMMAND) return command;
  return {
    title: command.title,
    command: CLIENT_ACCEPTED_COMMAND,
    arguments: [command.command, ...(command.arguments ?? [])],
  };
}

/**
 * VS Code's InlineCompletionTriggerKind is 0 = Invoke, 1 = Automatic, and
 * vscode-languageclient 9 sends it unchanged; LSP 3.18 (and the server) use 1 = Invoked,
 * 2 = Automatic. The extension passes this shifted value to the client's converter.
 */
export function lspInlineTriggerKind(vscodeKind: number): number {
  return vscodeKind === 0 ? 1 : 2;
}

export interface ClientCommand {
  id: string;
  title: string;
  /** A codicon for menus that show icons (e.g. the Source Control title bar). */
  icon?: string;
}

/**
 * Extension-only commands (registered by the extension itself). tailor.fillCommitMessage runs
 * the server's tailor.commitMessage but needs the git extension and the Source Control
 * view, so it lives in src/commitMessage.ts rather than in COMMANDS.
 */
export const CLIENT_COMMANDS: ClientCommand[] = [
  { id: FILL_COMMIT_MESSAGE, title: FILL_COMMIT_MESSAGE_TITLE, icon: '$(sparkle)' },
  { id: 'tailor.restartServer', title: 'Tailor: Restart Server' },
];

/** `contributes.commands` for package.json. */
export function contributedCommands(): { command: string; title: string; icon?: string }[] {
  return [...COMMANDS, ...CLIENT_COMMANDS].map((c) => {
    const icon = (c as ClientCommand).icon;
    return icon ? { command: c.id, title: c.title, icon } : { command: c.id, title: c.title };
  });
}

/**
 * `contributes.menus` for package.json: the commit-message button in the title bar of a git
 * repository in the Source Control view. Every command also stays in the command palette.
 */
export function contributedMenus(): Record<string, { command: string; when?: string; group?: string }[]> {
  return {
    'scm/title': [{ command: FILL_COMMIT_MESSAGE, when: 'scmProvider == git', group: 'navigation' }],
  };
}
