// The table of Tailor's commands: a VS Code command id, the server command it runs through
// `workspace/executeCommand` (one object argument, DESIGN.md Contracts), an argument
// builder and a result handler. No `vscode` import: the extension supplies the context
// and the UI. Adding a command is one entry here plus its `contributes.commands` entry in
// package.json (a unit test checks that they match), e.g.:
//
//   {
//     id: 'tailor.trainAdapter', title: 'Tailor: Train Adapter', serverCommand: 'tailor.trainAdapter',
//     args: async (ctx) => ({ uri: ctx.activeUri, budget: await ctx.ui.input('Budget (90s, 10m, 1h, 200k-tokens)') }),
//     onResult: (result, ctx) => ctx.ui.info(`Tailor: training started (job ${(result as any).jobId})`),
//   },

import { describeStatus, shortStatus, TailorStatus } from './status';

export interface CommandUi {
  info(message: string): void;
  error(message: string): void;
  /** Show a longer text (output channel). */
  show(text: string): void;
  /** Ask for a line of text; undefined when cancelled. */
  input(prompt: string, value?: string): Promise<string | undefined>;
}

export interface CommandContext {
  /** URI of the active editor's document, if any. */
  activeUri?: string;
  ui: CommandUi;
  /** Called with a status object whenever a command returns one. */
  onStatus?(status: TailorStatus): void;
}

export interface TailorCommand {
  /** VS Code command id (contributes.commands). */
  id: string;
  title: string;
  /** Server command (workspace/executeCommand). */
  serverCommand: string;
  /** The single argument object; undefined cancels the command. */
  args(ctx: CommandContext): Promise<Record<string, unknown> | undefined> | Record<string, unknown> | undefined;
  onResult(result: unknown, ctx: CommandContext): void;
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
];

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
  const arg = await cmd.args(ctx);
  if (arg === undefined) return undefined;
  try {
    const result = await sender.sendRequest('workspace/executeCommand', {
      command: cmd.serverCommand,
      arguments: [arg],
    });
    cmd.onResult(result, ctx);
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

/** Extension-only commands (no server command behind them). */
export const CLIENT_COMMANDS: { id: string; title: string }[] = [
  { id: 'tailor.restartServer', title: 'Tailor: Restart Server' },
];

/** `contributes.commands` for package.json. */
export function contributedCommands(): { command: string; title: string }[] {
  return [...COMMANDS, ...CLIENT_COMMANDS].map((c) => ({ command: c.id, title: c.title }));
}
