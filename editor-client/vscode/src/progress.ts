// Server-initiated work done progress (window/workDoneProgress/create + $/progress), as the
// server sends it for `tailor.trainAdapter`. vscode-languageclient 9 shows such progress in
// the status bar (ProgressLocation.Window), where VS Code offers no cancel button. The
// extension routes $/progress through this tracker (middleware.handleWorkDoneProgress): a
// cancellable progress becomes a notification with a cancel button that sends
// window/workDoneProgress/cancel; any other progress is left to the language client.
// No `vscode` import: the extension supplies the UI.

export type ProgressToken = number | string;

export interface ProgressValue {
  kind: 'begin' | 'report' | 'end';
  title?: string;
  message?: string;
  percentage?: number;
  cancellable?: boolean;
}

/** One shown progress (a VS Code notification). */
export interface ProgressHandle {
  /** increment: percentage points since the last report (VS Code adds them up). */
  report(message: string | undefined, increment: number | undefined): void;
  done(): void;
}

export interface ProgressUi {
  /** Show a progress; onCancel runs when the user cancels it. */
  begin(title: string, cancellable: boolean, onCancel: () => void): ProgressHandle;
}

interface Part {
  handle: ProgressHandle;
  /** The begin message (for training: the repository's name), kept before each report. */
  subject?: string;
  reported: number;
  cancelled: boolean;
}

/** The message shown with a report: "<repo>: <message>". */
export function progressMessage(subject: string | undefined, message: string | undefined): string | undefined {
  if (subject && message) return `${subject}: ${message}`;
  return message || subject;
}

export class WorkDoneProgressTracker {
  private readonly parts = new Map<string, Part>();

  constructor(
    private readonly ui: ProgressUi,
    /** Sends window/workDoneProgress/cancel for the token. */
    private readonly sendCancel: (token: ProgressToken) => void,
  ) {}

  /** Tokens shown by the tracker now. */
  get active(): string[] {
    return [...this.parts.keys()];
  }

  /**
   * Handle one $/progress value. Returns true when the tracker shows this token (the
   * language client's own status-bar progress must then not begin), false otherwise.
   */
  handle(token: ProgressToken, value: ProgressValue): boolean {
    const key = String(token);
    if (!value || typeof value !== 'object') return false;
    if (value.kind === 'begin') {
      if (!value.cancellable) return false;
      const part: Part = { subject: value.message, reported: 0, cancelled: false, handle: undefined as unknown as ProgressHandle };
      part.handle = this.ui.begin(value.title ?? 'Tailor', true, () => {
        if (part.cancelled) return;
        part.cancelled = true;
        this.sendCancel(token);
      });
      this.parts.set(key, part);
      this.report(part, value);
      return true;
    }
    const part = this.parts.get(key);
    if (!part) return false;
    if (value.kind === 'report') {
      this.report(part, value);
    } else if (value.kind === 'end') {
      this.parts.delete(key);
      part.handle.done();
    }
    return true;
  }

  /** End every shown progress (the client stopped). */
  clear(): void {
    for (const part of this.parts.values()) part.handle.done();
    this.parts.clear();
  }

  private report(part: Part, value: ProgressValue): void {
    let increment: number | undefined;
    if (typeof value.percentage === 'number') {
      const p = Math.max(0, Math.min(100, value.percentage));
      increment = Math.max(0, p - part.reported);
      part.reported += increment;
    }
    const message = value.kind === 'begin' ? value.message : progressMessage(part.subject, value.message);
    if (message !== undefined || increment) part.handle.report(message, increment);
  }
}
