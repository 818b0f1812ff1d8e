import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { activeJobs, describeStatus, jobText, shortStatus, statusBarText, trainingJob } from '../../src/status';

const status = {
  model: 'smollm2-135m-instruct',
  backend: 'torch',
  adapter: null,
  adapterState: 'none',
  jobs: [],
  ranking: [],
};

test('short status: model · adapter · state', () => {
  assert.equal(shortStatus(status), 'smollm2-135m-instruct · base');
  assert.equal(
    shortStatus({ ...status, adapter: { version: '20250101T000000Z' }, adapterState: 'active', jobs: [{ id: 1 }, { id: 2 }] }),
    'smollm2-135m-instruct · 20250101T000000Z · active · 2 jobs',
  );
  assert.equal(shortStatus(undefined), undefined);
});

test('status bar text per client state', () => {
  assert.match(statusBarText('starting', undefined).text, /Tailor/);
  assert.match(statusBarText('starting', undefined).tooltip, /starting/);
  assert.equal(statusBarText('running', status).text, '$(sparkle) smollm2-135m-instruct · base');
  assert.match(statusBarText('running', { ...status, jobs: [{}] }).text, /^\$\(sync~spin\) .* · 1 job$/);
  assert.match(statusBarText('stopped', status).tooltip, /stopped/);
  assert.match(statusBarText('error', undefined).text, /error/);
});

test('describe lists fields, jobs and ranking', () => {
  const text = describeStatus({ ...status, ranking: [{ model: 'a', score: 0.9 }, 'b'] });
  assert.match(text, /model:\s+smollm2-135m-instruct/);
  assert.match(text, /adapter:\s+-/);
  assert.match(text, /jobs:\s+none/);
  assert.match(text, /1\. a {2}0\.9/);
  assert.match(text, /2\. b/);
  assert.equal(describeStatus(undefined), 'Tailor: no status yet');
});

test('the server state wins while the model is not ready', () => {
  const real = { ...status, adapterState: 'none', state: 'loading', error: null, loadSeconds: null, dataDir: '/d', shown: 3 };
  assert.equal(shortStatus(real), 'smollm2-135m-instruct · base · loading');
  assert.match(statusBarText('running', real).text, /^\$\(sync~spin\)/);
  assert.equal(shortStatus({ ...real, state: 'ready' }), 'smollm2-135m-instruct · base · ready');
  assert.equal(shortStatus({ ...real, state: 'ready', adapter: 'v1', adapterState: 'active' }), 'smollm2-135m-instruct · v1 · active');
  assert.match(statusBarText('running', { ...real, state: 'error' }).text, /^\$\(error\) .* · error$/);
  const text = describeStatus({ ...real, state: 'ready' });
  assert.match(text, /state:\s+ready/);
  assert.match(text, /dataDir:\s+\/d/);
  assert.match(text, /shown:\s+3/);
});

test('a running training job shows its percentage; finished jobs are not counted', () => {
  const running = { id: 'train-1', kind: 'train', repo: '/r', budget: '30s', state: 'running', fraction: 0.424, message: '1.0k tokens', result: null };
  const s = { ...status, state: 'ready', jobs: [running] };
  assert.equal(shortStatus(s), 'smollm2-135m-instruct · base · ready · training 42%');
  assert.equal(statusBarText('running', s).text, '$(sync~spin) smollm2-135m-instruct · base · ready · training 42%');
  assert.equal(shortStatus({ ...s, jobs: [{ ...running, state: 'starting', fraction: undefined }] }), 'smollm2-135m-instruct · base · ready · training');
  assert.equal(shortStatus({ ...s, jobs: [running, { id: 'x', kind: 'rank' }] }), 'smollm2-135m-instruct · base · ready · training 42% · 1 job');

  const done = { ...running, state: 'done', fraction: 1, message: 'adapter trained and active (held-out loss 2.000 -> 1.500)' };
  const after = { ...s, adapter: 'a1b2/smollm2/20250101T000000Z', adapterState: 'active', jobs: [done, { ...running, id: 'train-2', state: 'cancelled' }] };
  assert.deepEqual(activeJobs(after), []);
  assert.equal(trainingJob(after), undefined);
  assert.equal(shortStatus(after), 'smollm2-135m-instruct · a1b2/smollm2/20250101T000000Z · active');
  assert.equal(statusBarText('running', after).text, '$(sparkle) smollm2-135m-instruct · a1b2/smollm2/20250101T000000Z · active');
  assert.equal(shortStatus({ ...after, adapterState: 'not-better' }), 'smollm2-135m-instruct · a1b2/smollm2/20250101T000000Z · not-better');
  const text = describeStatus(after);
  assert.match(text, /adapterState:\s+active/);
  assert.match(text, /- train-1 {2}train {2}done {2}budget 30s {2}\/r\n {8}adapter trained and active/);
  assert.match(text, /- train-2 {2}train {2}cancelled/);
  assert.equal(jobText(running), 'train-1  train  running 42%  budget 30s  /r');
});
