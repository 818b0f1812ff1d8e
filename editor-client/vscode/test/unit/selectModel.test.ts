import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import {
  candidateDetail,
  ModelPickItem,
  modelPickItems,
  NO_RANKING,
  parametersText,
  parseSelectModelResult,
  pickPlaceholder,
  RANK_AGAIN_ITEM,
  RANK_NOW,
  rankingProgress,
  SelectModelDeps,
  selectModel,
} from '../../src/selectModel';

/** A ranking as tailor.selectModel answers it: three candidates, best first, one unavailable. */
function ranking(extra: Record<string, unknown> = {}) {
  return {
    state: 'ready',
    message: '3 candidates ranked',
    current: 'smollm2-135m-instruct',
    pick: 'smollm2-360m-instruct',
    fraction: null,
    computedAt: '2025-01-01T12:00:00+00:00',
    candidates: [
      {
        model: 'smollm2-360m-instruct',
        kind: 'llama',
        parameters: 361_821_120,
        predicted_score: 0.412,
        measured_score: 0.398,
        latency_ms: 310.4,
        within_latency_budget: true,
        available: true,
        skipped: null,
        live: null,
      },
      {
        model: 'smollm2-135m-instruct',
        kind: 'llama',
        parameters: 134_515_008,
        predicted_score: 0.301,
        measured_score: null,
        latency_ms: 812,
        within_latency_budget: false,
        available: true,
        skipped: null,
        live: { shown: 40, accepted: 12, rate: 0.3 },
      },
      {
        model: 'qwen2.5-coder-1.5b',
        kind: 'qwen2',
        parameters: 1_543_714_304,
        predicted_score: 0.55,
        measured_score: null,
        latency_ms: 1900,
        within_latency_budget: false,
        available: false,
        skipped: 'not downloaded (no network)',
        live: null,
      },
    ],
    ...extra,
  };
}

/** A fake server (answers per argument list) and a recording UI. */
function harness(answer: (args: unknown[]) => unknown, choose?: (items: ModelPickItem[]) => ModelPickItem | undefined) {
  const seen = {
    sent: [] as unknown[][],
    info: [] as string[],
    error: [] as string[],
    picks: [] as { items: ModelPickItem[]; placeholder: string }[],
    asked: [] as { message: string; actions: string[] }[],
  };
  let askReply: string | undefined;
  const deps: SelectModelDeps = {
    execute: async (command, args) => {
      assert.equal(command, 'tailor.selectModel');
      seen.sent.push(args);
      return answer(args);
    },
    ui: {
      info: (m) => seen.info.push(m),
      error: (m) => seen.error.push(m),
      pick: async (items, placeholder) => {
        seen.picks.push({ items, placeholder });
        return choose?.(items);
      },
      ask: async (message, ...actions) => {
        seen.asked.push({ message, actions });
        return askReply;
      },
    },
  };
  return { deps, seen, replyToAsk: (r: string | undefined) => (askReply = r) };
}

test('the QuickPick: available candidates best first, id as label, scores and latency, kind and parameters, current and pick marked', () => {
  const items = modelPickItems(parseSelectModelResult(ranking()));
  assert.deepEqual(items, [
    {
      label: 'smollm2-360m-instruct',
      description: '$(star) pick · predicted 0.412 · measured 0.398 · 310 ms',
      detail: 'llama · 362M parameters',
      action: 'apply',
      model: 'smollm2-360m-instruct',
    },
    {
      label: 'smollm2-135m-instruct',
      description: '$(check) current · predicted 0.301 · 812 ms',
      detail: 'llama · 135M parameters · over the latency budget · live: 12 of 40 accepted (30%)',
      action: 'apply',
      model: 'smollm2-135m-instruct',
    },
    RANK_AGAIN_ITEM,
  ]);
  // The unavailable candidate is not offered, but named in the placeholder.
  assert.equal(
    pickPlaceholder(parseSelectModelResult(ranking())),
    'Base model now: smollm2-135m-instruct · ranked 2025-01-01T12:00:00+00:00 · not available: qwen2.5-coder-1.5b',
  );
  // While a new ranking runs there is no "Rank again".
  assert.equal(modelPickItems(parseSelectModelResult(ranking({ state: 'running' }))).at(-1)?.action, 'apply');
});

test('parameters in M; details of a candidate the server knows little about', () => {
  assert.equal(parametersText(134_515_008), '135M');
  assert.equal(parametersText(1_543_714_304), '1544M');
  assert.equal(parametersText(3_500_000), '3.5M');
  assert.equal(parametersText(2_000_000), '2M');
  assert.equal(parametersText(null), undefined);
  assert.equal(candidateDetail({ model: 'x', kind: 'gpt2', parameters: null, within_latency_budget: null, live: null }), 'gpt2');
  assert.equal(rankingProgress(parseSelectModelResult({ state: 'running', fraction: 0.425, message: 'scoring b', candidates: [] })), 'Tailor: ranking models 43% · scoring b');
  assert.throws(() => parseSelectModelResult(null), /no model ranking/);
  assert.deepEqual(parseSelectModelResult({ state: 'none', candidates: null }).candidates, []);
});

test('choosing another model sends {apply: id} and says "switching to"', async () => {
  const { deps, seen } = harness(
    (args) => {
      const arg = args[0] as { apply?: string } | undefined;
      return arg?.apply ? { ...ranking({ current: arg.apply }), applied: arg.apply } : ranking();
    },
    (items) => items.find((i) => i.model === 'smollm2-360m-instruct'),
  );
  const result = await selectModel(deps);
  assert.deepEqual(seen.sent, [[], [{ apply: 'smollm2-360m-instruct' }]]);
  assert.equal(result?.applied, 'smollm2-360m-instruct');
  assert.deepEqual(seen.info, ['Tailor: switching to smollm2-360m-instruct']);
  assert.deepEqual(seen.error, []);
  assert.equal(seen.picks.length, 1);
});

test('choosing the current model sends nothing and says so; dismissing does nothing', async () => {
  const current = harness(() => ranking(), (items) => items.find((i) => i.model === 'smollm2-135m-instruct'));
  await selectModel(current.deps);
  assert.deepEqual(current.seen.sent, [[]]);
  assert.deepEqual(current.seen.info, ['Tailor: smollm2-135m-instruct is already the current model']);

  const dismissed = harness(() => ranking(), () => undefined);
  await selectModel(dismissed.deps);
  assert.deepEqual(dismissed.seen.sent, [[]]);
  assert.deepEqual(dismissed.seen.info, []);
});

test('no ranking yet: "Rank now" starts one ({refresh: true}) and shows its state; dismissing sends nothing more', async () => {
  const answer = (args: unknown[]) =>
    args.length ? ranking({ state: 'running', fraction: 0, message: 'ranking 3 candidate models', candidates: [] }) : { ...ranking({ state: 'none', message: 'no ranking yet', candidates: [] }), pick: null };
  const h = harness(answer);
  h.replyToAsk(RANK_NOW);
  const result = await selectModel(h.deps);
  assert.deepEqual(h.seen.asked, [{ message: NO_RANKING, actions: [RANK_NOW] }]);
  assert.deepEqual(h.seen.sent, [[], [{ refresh: true }]]);
  assert.equal(result?.state, 'running');
  assert.deepEqual(h.seen.info, ['Tailor: ranking models 0% · ranking 3 candidate models']);
  assert.equal(h.seen.picks.length, 0);

  const later = harness(answer);
  later.replyToAsk(undefined);
  await selectModel(later.deps);
  assert.deepEqual(later.seen.sent, [[]]);
});

test('"Rank again" in the QuickPick and {refresh: true} as an argument start a ranking', async () => {
  const answer = (args: unknown[]) => (args.length ? ranking({ state: 'running', fraction: 0.1, message: '' }) : ranking());
  const h = harness(answer, (items) => items.find((i) => i.action === 'refresh'));
  await selectModel(h.deps);
  assert.deepEqual(h.seen.sent, [[], [{ refresh: true }]]);
  assert.deepEqual(h.seen.info, ['Tailor: ranking models 10%']);

  const direct = harness(answer);
  direct.deps.args = [{ refresh: true }];
  await selectModel(direct.deps);
  assert.deepEqual(direct.seen.sent, [[{ refresh: true }]]);
  assert.equal(direct.seen.picks.length, 0);
});

test('a server error is shown with showErrorMessage, never thrown: the ranking, an apply, a refresh', async () => {
  const fail = harness(() => {
    throw new Error('the server is shutting down');
  });
  assert.equal(await selectModel(fail.deps), undefined);
  assert.deepEqual(fail.seen.error, ['Tailor: tailor.selectModel failed: the server is shutting down']);

  // An apply refused (a JSON-RPC error object, as vscode-languageclient rejects with).
  const refused = harness(
    (args) => {
      if (args.length) throw { code: -32602, message: "tailor.selectModel: unknown model 'gone'" };
      return ranking();
    },
    (items) => items[0],
  );
  assert.equal(await selectModel(refused.deps), undefined);
  assert.deepEqual(refused.seen.info, ['Tailor: switching to smollm2-360m-instruct']);
  assert.deepEqual(refused.seen.error, ["Tailor: could not switch to smollm2-360m-instruct: tailor.selectModel: unknown model 'gone'"]);

  const noRefresh = harness(() => {
    throw new Error('busy');
  });
  noRefresh.deps.args = [{ refresh: true }];
  await selectModel(noRefresh.deps);
  assert.deepEqual(noRefresh.seen.error, ['Tailor: could not start a model ranking: busy']);

  // Not a ranking at all.
  const garbage = harness(() => 'ok');
  await selectModel(garbage.deps);
  assert.deepEqual(garbage.seen.error, ['Tailor: tailor.selectModel failed: the server returned no model ranking']);
});

test('states: a failed ranking is an error, the older ranking still offered; disabled says so; {apply} skips the QuickPick', async () => {
  const failed = harness(() => ranking({ state: 'error', message: 'out of memory' }), () => undefined);
  await selectModel(failed.deps);
  assert.deepEqual(failed.seen.error, ['Tailor: model ranking failed: out of memory']);
  assert.equal(failed.seen.picks.length, 1, 'the older ranking is offered');

  const disabled = harness(() => ({ ...ranking({ state: 'disabled', message: 'model selection is off (selector.enable is false)', candidates: [] }), pick: null }));
  await selectModel(disabled.deps);
  assert.deepEqual(disabled.seen.info, ['Tailor: model selection is off (selector.enable is false)']);
  assert.equal(disabled.seen.picks.length, 0);

  const running = harness(() => ranking({ state: 'running', fraction: 0.5, message: 'scoring', candidates: [] }));
  await selectModel(running.deps);
  assert.deepEqual(running.seen.info, ['Tailor: ranking models 50% · scoring']);
  assert.equal(running.seen.picks.length, 0);

  const unavailable = harness(() => ranking({ candidates: [ranking().candidates[2]] }));
  await selectModel(unavailable.deps);
  assert.deepEqual(unavailable.seen.info, ['Tailor: no candidate model is available (qwen2.5-coder-1.5b: not downloaded (no network))']);
  assert.equal(unavailable.seen.picks.length, 0);

  const direct = harness((args) => ({ ...ranking(), applied: (args[0] as { apply: string }).apply }));
  direct.deps.args = [{ apply: 'smollm2-360m-instruct' }];
  const result = await selectModel(direct.deps);
  assert.equal(result?.applied, 'smollm2-360m-instruct');
  assert.deepEqual(direct.seen.sent, [[{ apply: 'smollm2-360m-instruct' }]]);
  assert.equal(direct.seen.picks.length, 0);
});
