// "Tailor: Select Model" (tailor.selectModel): the server's ranking of candidate base models
// in a QuickPick (available candidates only, best first); a choice switches the server to it
// (`{apply: id}`); with no ranking yet, or "Rank again", it starts one (`{refresh: true}`).
// No `vscode` import: the extension supplies the request and the UI (see commands.ts and
// extension.ts), so all of it is unit-tested here.

/** The server command and the VS Code command (the language client registers it). */
export const SELECT_MODEL = 'tailor.selectModel';
export const SELECT_MODEL_TITLE = 'Tailor: Select Model';
/** The button offered when there is no ranking yet. */
export const RANK_NOW = 'Rank now';

export type RankingState = 'none' | 'running' | 'ready' | 'error' | 'disabled';

/** One candidate of the ranking (tailor.selectModel's `candidates`, best first). */
export interface ModelCandidate {
  model: string;
  kind?: string;
  parameters?: number | null;
  predicted_score?: number | null;
  measured_score?: number | null;
  latency_ms?: number | null;
  within_latency_budget?: boolean | null;
  available?: boolean;
  skipped?: string | null;
  live?: { shown: number; accepted: number; rate: number } | null;
}

/** The server's answer to tailor.selectModel. */
export interface SelectModelResult {
  state: RankingState | string;
  message?: string;
  current?: string;
  pick?: string | null;
  fraction?: number | null;
  computedAt?: string | null;
  candidates: ModelCandidate[];
  /** Only after an apply: the model switched to. */
  applied?: string;
}

/** A QuickPick item: a candidate (apply) or "Rank again" (refresh). */
export interface ModelPickItem {
  label: string;
  description?: string;
  detail?: string;
  alwaysShow?: boolean;
  action: 'apply' | 'refresh';
  /** The candidate's model id (action "apply"). */
  model?: string;
}

export interface SelectModelUi {
  info(message: string): void;
  error(message: string): void;
  /** A QuickPick; undefined when dismissed. */
  pick(items: ModelPickItem[], placeholder: string): Promise<ModelPickItem | undefined>;
  /** An information message with buttons; the button chosen, or undefined. */
  ask(message: string, ...actions: string[]): Promise<string | undefined>;
}

export interface SelectModelDeps {
  /** workspace/executeCommand on the server with this argument list. */
  execute(command: string, args: unknown[]): Promise<unknown>;
  ui: SelectModelUi;
  /**
   * The arguments the VS Code command was run with: `{apply: id}` switches without a menu,
   * `{refresh: true}` starts a ranking (keybindings, other extensions, tests).
   */
  args?: unknown[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : isObject(e) && 'message' in e ? String(e.message) : String(e);
}

/** Check the server's answer; throws when it is not a ranking object. */
export function parseSelectModelResult(result: unknown): SelectModelResult {
  if (!isObject(result) || typeof result.state !== 'string') throw new Error('the server returned no model ranking');
  const candidates = Array.isArray(result.candidates)
    ? (result.candidates.filter((c) => isObject(c) && typeof c.model === 'string') as unknown as ModelCandidate[])
    : [];
  return { ...(result as object), candidates } as SelectModelResult;
}

/** Parameters in millions: "135M", "1544M", "3.5M"; undefined when unknown. */
export function parametersText(parameters: unknown): string | undefined {
  const n = num(parameters);
  if (n === undefined) return undefined;
  const m = n / 1e6;
  return m < 10 ? `${Number(m.toFixed(1))}M` : `${Math.round(m)}M`;
}

/** "current · pick · predicted 0.412 · measured 0.398 · 310 ms" */
export function candidateDescription(c: ModelCandidate, result: SelectModelResult): string {
  const parts: string[] = [];
  if (c.model === result.current) parts.push('$(check) current');
  if (c.model === result.pick) parts.push('$(star) pick');
  const predicted = num(c.predicted_score);
  if (predicted !== undefined) parts.push(`predicted ${predicted.toFixed(3)}`);
  const measured = num(c.measured_score);
  if (measured !== undefined) parts.push(`measured ${measured.toFixed(3)}`);
  const latency = num(c.latency_ms);
  if (latency !== undefined) parts.push(`${Math.round(latency)} ms`);
  return parts.join(' · ');
}

/** "llama · 362M parameters · over the latency budget · live: 12 of 40 accepted (30%)" */
export function candidateDetail(c: ModelCandidate): string {
  const parts: string[] = [c.kind || '?'];
  const params = parametersText(c.parameters);
  if (params) parts.push(`${params} parameters`);
  if (c.within_latency_budget === false) parts.push('over the latency budget');
  if (c.live && num(c.live.shown) !== undefined && num(c.live.accepted) !== undefined) {
    const rate = num(c.live.rate);
    parts.push(`live: ${c.live.accepted} of ${c.live.shown} accepted${rate !== undefined ? ` (${Math.round(rate * 100)}%)` : ''}`);
  }
  return parts.join(' · ');
}

export const RANK_AGAIN_ITEM: ModelPickItem = {
  label: '$(refresh) Rank again',
  description: 'rank the candidate models again in the background',
  alwaysShow: true,
  action: 'refresh',
};

/** The QuickPick: the available candidates, best first, then "Rank again". */
export function modelPickItems(result: SelectModelResult): ModelPickItem[] {
  const items: ModelPickItem[] = result.candidates
    .filter((c) => c.available === true)
    .map((c) => ({
      label: c.model,
      description: candidateDescription(c, result),
      detail: candidateDetail(c),
      action: 'apply',
      model: c.model,
    }));
  if (result.state !== 'running') items.push(RANK_AGAIN_ITEM);
  return items;
}

/** The QuickPick's placeholder: the model in use, when the ranking was made, what is left out. */
export function pickPlaceholder(result: SelectModelResult): string {
  const parts = [`Base model now: ${result.current ?? '?'}`];
  if (result.computedAt) parts.push(`ranked ${result.computedAt}`);
  const missing = result.candidates.filter((c) => c.available !== true).map((c) => c.model);
  if (missing.length) parts.push(`not available: ${missing.join(', ')}`);
  return parts.join(' · ');
}

/** "Tailor: ranking models 42% · <message>" for the running state. */
export function rankingProgress(result: SelectModelResult): string {
  let text = 'Tailor: ranking models';
  const fraction = num(result.fraction);
  if (fraction !== undefined) text += ` ${Math.round(fraction * 100)}%`;
  if (result.message) text += ` · ${result.message}`;
  return text;
}

export const NO_RANKING = 'Tailor: there is no model ranking yet. Rank the candidate models now? It runs in the background.';

async function request(deps: SelectModelDeps, args: unknown[]): Promise<SelectModelResult> {
  return parseSelectModelResult(await deps.execute(SELECT_MODEL, args));
}

/** Switch the server's base model; errors are shown, never thrown. */
export async function applyModel(deps: SelectModelDeps, model: string): Promise<SelectModelResult | undefined> {
  deps.ui.info(`Tailor: switching to ${model}`);
  try {
    return await request(deps, [{ apply: model }]);
  } catch (e) {
    deps.ui.error(`Tailor: could not switch to ${model}: ${errorMessage(e)}`);
    return undefined;
  }
}

/** Start a ranking in the background and show its state; errors are shown, never thrown. */
export async function refreshRanking(deps: SelectModelDeps): Promise<SelectModelResult | undefined> {
  try {
    const result = await request(deps, [{ refresh: true }]);
    showState(deps.ui, result);
    return result;
  } catch (e) {
    deps.ui.error(`Tailor: could not start a model ranking: ${errorMessage(e)}`);
    return undefined;
  }
}

/** Show what the state says (running, disabled, error); returns whether it did. */
export function showState(ui: SelectModelUi, result: SelectModelResult): boolean {
  switch (result.state) {
    case 'running':
      ui.info(rankingProgress(result));
      return true;
    case 'disabled':
      ui.info(`Tailor: ${result.message || 'model selection is disabled (tailor.selector.enable is false)'}`);
      return true;
    case 'error':
      ui.error(`Tailor: model ranking failed: ${result.message || 'no reason given'}`);
      return true;
    default:
      return false;
  }
}

/**
 * The whole command: ask for the ranking; with none, offer "Rank now"; show the state; let the
 * user choose among the available candidates and switch to the one chosen. Every failure is
 * shown (errors as error messages) and resolves to undefined; never throws.
 */
export async function selectModel(deps: SelectModelDeps): Promise<SelectModelResult | undefined> {
  const given = isObject(deps.args?.[0]) ? (deps.args![0] as Record<string, unknown>) : undefined;
  if (typeof given?.apply === 'string') return applyModel(deps, given.apply);
  if (given?.refresh === true) return refreshRanking(deps);

  let result: SelectModelResult;
  try {
    result = await request(deps, []);
  } catch (e) {
    deps.ui.error(`Tailor: ${SELECT_MODEL} failed: ${errorMessage(e)}`);
    return undefined;
  }
  if (result.state === 'none') {
    const answer = await deps.ui.ask(NO_RANKING, RANK_NOW);
    return answer === RANK_NOW ? refreshRanking(deps) : result;
  }
  const shown = showState(deps.ui, result);
  if (result.candidates.length === 0) {
    if (!shown) deps.ui.info(`Tailor: the model ranking has no candidates${result.message ? ` (${result.message})` : ''}`);
    return result;
  }
  const items = modelPickItems(result);
  if (!items.some((i) => i.action === 'apply')) {
    const reasons = result.candidates.map((c) => (c.skipped ? `${c.model}: ${c.skipped}` : c.model));
    deps.ui.info(`Tailor: no candidate model is available (${reasons.join('; ')})`);
    return result;
  }
  const choice = await deps.ui.pick(items, pickPlaceholder(result));
  if (!choice) return result;
  if (choice.action === 'refresh') return refreshRanking(deps);
  if (choice.model === result.current) {
    deps.ui.info(`Tailor: ${choice.model} is already the current model`);
    return result;
  }
  return applyModel(deps, choice.model!);
}
