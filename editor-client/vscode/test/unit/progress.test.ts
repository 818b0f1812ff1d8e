import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { ProgressHandle, progressMessage, WorkDoneProgressTracker } from '../../src/progress';

function fakeUi() {
  const shown: { title: string; cancellable: boolean; reports: [string | undefined, number | undefined][]; done: boolean; cancel: () => void }[] = [];
  const ui = {
    begin(title: string, cancellable: boolean, onCancel: () => void): ProgressHandle {
      const entry = { title, cancellable, reports: [] as [string | undefined, number | undefined][], done: false, cancel: onCancel };
      shown.push(entry);
      return {
        report: (m, i) => void entry.reports.push([m, i]),
        done: () => void (entry.done = true),
      };
    },
  };
  return { ui, shown };
}

test('a cancellable progress is shown with its repository, percentages as increments, and ended', () => {
  const { ui, shown } = fakeUi();
  const cancelled: unknown[] = [];
  const tracker = new WorkDoneProgressTracker(ui, (t) => cancelled.push(t));
  assert.equal(tracker.handle('tok', { kind: 'begin', title: 'Tailor: training adapter', message: 'repo', percentage: 0, cancellable: true }), true);
  assert.equal(tracker.handle('tok', { kind: 'report', message: 'reading', cancellable: true }), true);
  tracker.handle('tok', { kind: 'report', message: '0.5k tokens', percentage: 25 });
  tracker.handle('tok', { kind: 'report', message: '1.0k tokens', percentage: 60 });
  tracker.handle('tok', { kind: 'report', message: 'eval', percentage: 40 }); // never backwards
  assert.deepEqual(tracker.active, ['tok']);
  assert.equal(tracker.handle('tok', { kind: 'end', message: 'adapter trained and active (...)' }), true);
  assert.deepEqual(tracker.active, []);
  assert.equal(shown.length, 1);
  assert.equal(shown[0].title, 'Tailor: training adapter');
  assert.equal(shown[0].cancellable, true);
  assert.deepEqual(shown[0].reports, [
    ['repo', 0],
    ['repo: reading', undefined],
    ['repo: 0.5k tokens', 25],
    ['repo: 1.0k tokens', 35],
    ['repo: eval', 0],
  ]);
  assert.equal(shown[0].done, true);
  assert.deepEqual(cancelled, []);
  // After the end the token is unknown again.
  assert.equal(tracker.handle('tok', { kind: 'report', percentage: 90 }), false);
});

test('cancelling sends window/workDoneProgress/cancel once with the token', () => {
  const { ui, shown } = fakeUi();
  const cancelled: unknown[] = [];
  const tracker = new WorkDoneProgressTracker(ui, (t) => cancelled.push(t));
  tracker.handle(7, { kind: 'begin', title: 'Tailor: training adapter', cancellable: true });
  shown[0].cancel();
  shown[0].cancel();
  assert.deepEqual(cancelled, [7]);
  tracker.handle(7, { kind: 'end', message: 'training cancelled; nothing saved' });
  assert.equal(shown[0].done, true);
});

test('progress that cannot be cancelled is left to the language client', () => {
  const { ui, shown } = fakeUi();
  const tracker = new WorkDoneProgressTracker(ui, () => undefined);
  assert.equal(tracker.handle('a', { kind: 'begin', title: 'Indexing' }), false);
  assert.equal(tracker.handle('a', { kind: 'report', percentage: 50 }), false);
  assert.equal(tracker.handle('a', { kind: 'end' }), false);
  assert.equal(shown.length, 0);
  tracker.handle('b', { kind: 'begin', title: 'T', cancellable: true });
  tracker.clear();
  assert.equal(shown[0].done, true);
  assert.deepEqual(tracker.active, []);
  assert.equal(progressMessage(undefined, 'm'), 'm');
  assert.equal(progressMessage('r', undefined), 'r');
});
