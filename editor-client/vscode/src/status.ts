// Text of the status-bar item and of "Tailor: Show Status", from the object that
// `tailor.status` returns and `tailor/status` notifications carry:
// {model, backend, adapter, adapterState, jobs, ranking}. No `vscode` import.

export interface TailorStatus {
  model?: unknown;
  backend?: unknown;
  adapter?: unknown;
  adapterState?: unknown;
  jobs?: unknown;
  ranking?: unknown;
  [key: string]: unknown;
}

export type ClientState = 'starting' | 'running' | 'stopped' | 'error';

function name(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const k of ['name', 'version', 'id', 'model']) {
      if (typeof o[k] === 'string' || typeof o[k] === 'number') return String(o[k]);
    }
    return undefined;
  }
  return String(v);
}

/**
 * The state to show: the server's own `state` while the model is not ready (loading,
 * error), else the adapter's state when there is one, else "ready".
 */
export function displayState(status: TailorStatus): string | undefined {
  const runtime = name(status.state);
  if (runtime && runtime !== 'ready') return runtime;
  const adapterState = name(status.adapterState);
  if (adapterState && adapterState !== 'none') return adapterState;
  return runtime;
}

/** A job of `status.jobs` (training: {id, kind: "train", repo, budget, state, fraction, message, result}). */
export interface TailorJob {
  id?: unknown;
  kind?: unknown;
  repo?: unknown;
  budget?: unknown;
  state?: unknown;
  fraction?: unknown;
  message?: unknown;
  result?: unknown;
  [key: string]: unknown;
}

const FINISHED = new Set(['done', 'failed', 'cancelled']);

/** Jobs still running: finished ones stay in the server's list with state done / failed / cancelled. */
export function activeJobs(status: TailorStatus | undefined): unknown[] {
  const jobs = status?.jobs;
  const list = Array.isArray(jobs) ? jobs : jobs && typeof jobs === 'object' ? Object.values(jobs) : [];
  return list.filter((j) => {
    const state = j && typeof j === 'object' ? name((j as TailorJob).state) : undefined;
    return !(state && FINISHED.has(state));
  });
}

/** The running training job, if any. */
export function trainingJob(status: TailorStatus | undefined): TailorJob | undefined {
  return activeJobs(status).find((j): j is TailorJob => !!j && typeof j === 'object' && (j as TailorJob).kind === 'train');
}

function percent(fraction: unknown): string | undefined {
  return typeof fraction === 'number' && Number.isFinite(fraction) ? `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%` : undefined;
}

/** "training 42%" ("training" before the first report). */
export function trainingText(job: TailorJob): string {
  const p = percent(job.fraction);
  return p ? `training ${p}` : 'training';
}

/**
 * "model · adapter · state" (adapter "base" when none), then "training NN%" while a training
 * job runs and the number of other running jobs.
 */
export function shortStatus(status: TailorStatus | undefined): string | undefined {
  if (!status || typeof status !== 'object') return undefined;
  const parts = [name(status.model) ?? '?', name(status.adapter) ?? 'base'];
  const state = displayState(status);
  if (state) parts.push(state);
  let jobs = activeJobs(status).length;
  const training = trainingJob(status);
  if (training) {
    parts.push(trainingText(training));
    jobs -= 1;
  }
  if (jobs > 0) parts.push(jobs === 1 ? '1 job' : `${jobs} jobs`);
  return parts.join(' · ');
}

/** One line for a job: "train-1  train  running 42%  budget 30s  /path/to/repo". */
export function jobText(job: unknown): string {
  if (!job || typeof job !== 'object') return String(job);
  const j = job as TailorJob;
  const parts = [name(j.id) ?? '?', name(j.kind) ?? 'job'];
  let state = name(j.state) ?? 'running';
  const p = percent(j.fraction);
  if (!FINISHED.has(state) && p) state = `${state} ${p}`;
  parts.push(state);
  if (name(j.budget)) parts.push(`budget ${name(j.budget)}`);
  if (name(j.repo)) parts.push(name(j.repo)!);
  return parts.join('  ');
}

export interface StatusBarText {
  text: string;
  tooltip: string;
}

/** The status-bar item for a client state and the last status received. */
export function statusBarText(state: ClientState, status: TailorStatus | undefined): StatusBarText {
  if (state === 'stopped') {
    return { text: '$(circle-slash) Tailor', tooltip: 'Tailor: server stopped. Click for status.' };
  }
  if (state === 'error') {
    return { text: '$(error) Tailor', tooltip: 'Tailor: the server could not start. See the Tailor output.' };
  }
  const short = shortStatus(status);
  if (!short) {
    return { text: '$(sync~spin) Tailor', tooltip: 'Tailor: starting…' };
  }
  const jobs = activeJobs(status).length;
  const shown = status ? displayState(status) : undefined;
  const icon = shown === 'error' ? '$(error)' : jobs > 0 || shown === 'loading' ? '$(sync~spin)' : '$(sparkle)';
  return { text: `${icon} ${short}`, tooltip: describeStatus(status) };
}

/** Multi-line description (Show Status, tooltips). */
export function describeStatus(status: TailorStatus | undefined): string {
  if (!status || typeof status !== 'object') return 'Tailor: no status yet';
  const lines = ['Tailor status'];
  const main = ['model', 'backend', 'adapter', 'adapterState', 'state', 'error'];
  for (const k of main) {
    if (!(k in status) && (k === 'state' || k === 'error')) continue;
    const v = status[k];
    const text = v === undefined || v === null ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    lines.push(`  ${(k + ':').padEnd(14)}${text}`);
  }
  // Anything else the server reports (load time, data directory, counters...).
  for (const k of Object.keys(status).sort()) {
    const v = status[k];
    if (main.includes(k) || k === 'jobs' || k === 'ranking' || v === null || v === undefined || typeof v === 'object') continue;
    lines.push(`  ${(k + ':').padEnd(14)}${String(v)}`);
  }
  const jobs = status.jobs;
  if (Array.isArray(jobs) && jobs.length > 0) {
    lines.push('  jobs:');
    for (const j of jobs) {
      lines.push(`    - ${jobText(j)}`);
      const message = j && typeof j === 'object' ? name((j as TailorJob).message) : undefined;
      if (message) lines.push(`        ${message}`);
    }
  } else {
    lines.push(`  ${'jobs:'.padEnd(14)}none`);
  }
  const ranking = status.ranking;
  if (Array.isArray(ranking) && ranking.length > 0) {
    lines.push('  ranking:');
    ranking.forEach((r, i) => {
      if (r && typeof r === 'object') {
        const o = r as Record<string, unknown>;
        const label = name(o.model) ?? name(o.name) ?? JSON.stringify(o);
        const score = o.score ?? o.predicted;
        lines.push(`    ${i + 1}. ${label}${score !== undefined ? `  ${String(score)}` : ''}`);
      } else {
        lines.push(`    ${i + 1}. ${String(r)}`);
      }
    });
  }
  return lines.join('\n');
}
