"""`tailor select [REPO]` (rank candidate base models for a repository) and
`tailor zoo build` (build the candidates made here: derived variants and zoo models).

Thin wrappers: the work is in `selector.ranking` (`rank`, `build`, `report`). Progress goes
to stderr, results to stdout; `run_select` and `run_zoo_build` take their collaborators
as arguments so tests can drive them on tiny models without a subprocess.

The ranking and the builds are imported when their command runs, not with the parser:
they load torch, which every other `tailor` command would otherwise wait for.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from adapters.budget import Budget
from selector.ranking.catalogue import ModelSpec, catalogue
from selector.ranking.defaults import BUILD_EVAL_TOKENS, DEFAULT_FULL_RUN, FINE_TUNES, FULL_TOP

if TYPE_CHECKING:  # the ranking and the builds import torch: only when a command runs them
    from selector.ranking.build import BaseLoader, Corpus
    from selector.ranking.rank import Loader, Ranking


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("select", help="rank candidate base models for a repository")
    p.add_argument("repo", nargs="?", default=".", help="the repository (default: here)")
    p.add_argument("--json", action="store_true", help="print the ranking as a JSON list")
    p.add_argument("--report", metavar="FILE.html", help="also write an HTML report with plots")
    p.add_argument("--budget", type=int, default=FINE_TUNES,
                   help=f"most real LoRA fine-tunes the search may run (default {FINE_TUNES}; "
                   "3 or more lets the halving compare candidates)")
    p.add_argument("--finalists", type=int, default=FULL_TOP,
                   help="candidates, best by the cheap proxies, that also get the expensive "
                   f"ones and the learned predictor (default {FULL_TOP})")
    p.add_argument("--train-budget", default=DEFAULT_FULL_RUN.describe().replace(" ", "-"),
                   help="one full fine-tune of the search: 90s, 2m or 50000-tokens")
    p.add_argument("--latency-budget-ms", type=float, default=500.0,
                   help="latency a candidate may cost per suggestion (default 500)")
    p.add_argument("--candidate", action="append", default=[], metavar="SPEC",
                   help="an extra candidate (model directory, .gguf, or hub id); repeatable")
    p.add_argument("--refresh", action="store_true", help="ignore the cached ranking")
    p.add_argument("--ground-truth", nargs="+", metavar="REPO",
                   help="fine-tune every candidate on these repositories for real, record "
                   "proxies and scores (resumable), fit the predictor and report it "
                   "leaving one repository out")
    p.set_defaults(func=cmd_select)

    z = sub.add_parser("zoo", help="build the candidate models made on this machine")
    zoo = z.add_subparsers(dest="zoo_command", required=True)
    b = zoo.add_parser("build", help="derive variants of the default model and pre-train "
                       "the small zoo models; report held-out loss vs a unigram baseline")
    b.add_argument("--only", action="append", default=[], metavar="ID",
                   help="build only this catalogue id (repeatable)")
    b.add_argument("--tokens", type=int, default=None,
                   help="train zoo models for this many tokens instead of their recipe's")
    b.add_argument("--eval-tokens", type=int, default=BUILD_EVAL_TOKENS,
                   help=f"held-out tokens each model is judged on (default {BUILD_EVAL_TOKENS})")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_zoo_build)


def _num(value: Any, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def format_table(ranking: Ranking) -> str:
    """The ranking as a fixed-width table, then which model to use and why."""
    lines = [f"{'#':>2}  {'model':<34} {'kind':<8} {'params':>9} {'predicted':>10} "
             f"{'measured':>9} {'latency':>9}  note"]
    for i, row in enumerate(ranking.candidates, 1):
        params = row.get("parameters")
        note = row.get("skipped") or ("" if row.get("within_latency_budget", True)
                                      else "over the latency budget")
        lines.append(f"{i:>2}  {row['model']:<34} {row.get('kind', ''):<8} "
                     f"{_num(params and params / 1e6, '{:.1f}M'):>9} "
                     f"{_num(row.get('predicted_score'), '{:.4f}'):>10} "
                     f"{_num(row.get('measured_score'), '{:.4f}'):>9} "
                     f"{_num(row.get('latency_ms'), '{:.0f} ms'):>9}  {note}")
    meta = ranking.meta
    lines.append(f"pick: {meta.get('pick') or 'none'} ({meta.get('fine_tunes', 0)} of "
                 f"{meta.get('budget', 0)} fine-tunes, prediction by {meta.get('predictor')}"
                 f"; {'computed now' if ranking.refreshed else 'cached'})")
    return "\n".join(lines)


def run_select(root: Path, specs: Sequence[ModelSpec], *, budget: int = FINE_TUNES,
               finalists: int = FULL_TOP,
               latency_budget_ms: float = 500.0, full_run: Budget = DEFAULT_FULL_RUN,
               as_json: bool = False, report: Path | None = None,
               loader: Loader | None = None, force: bool = False,
               out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    from selector.ranking.rank import load_candidate, load_predictor, rank_repository

    out, err = out or sys.stdout, err or sys.stderr

    def progress(message: str) -> None:
        print(f"tailor select: {message}", file=err, flush=True)

    try:
        ranking = rank_repository(root, specs, budget=budget,
                                  latency_budget_ms=latency_budget_ms,
                                  predictor=load_predictor(), progress=progress,
                                  cheap_predictor=load_predictor(kind="cheap"),
                                  full_run=full_run, loader=loader or load_candidate, force=force,
                                  full_top=finalists)
    except ValueError as exc:
        print(f"tailor select: {exc}", file=err)
        return 1
    if report is not None:
        from selector.ranking.report import html_report

        report.write_text(html_report(ranking.candidates, ranking.meta,
                                      title=f"Tailor model ranking: {root.name}"))
        progress(f"report written to {report}")
    print(json.dumps(ranking.candidates) if as_json else format_table(ranking), file=out)
    return 0


def format_fit(summary: dict[str, Any]) -> str:
    loo = summary["leave_one_out"]
    lines = [f"predictor fitted on {summary['pairs']} pairs: "
             f"{len(summary['models'])} models x {len(summary['repositories'])} repositories",
             f"{'held-out repository':<24} {'Kendall tau':>11} {'Rel@1':>7}"]
    for repo, row in loo["per_repository"].items():
        lines.append(f"{repo:<24} {row['kendall_tau']:>11.3f} {row['rel_at_1']:>7.3f}")
    lines.append(f"{'mean':<24} {loo['kendall_tau']:>11.3f} {loo['rel_at_1']:>7.3f}")
    cheap = summary["cheap_leave_one_out"]
    lines.append(f"{'mean, cheap proxies only':<24} {cheap['kendall_tau']:>11.3f} "
                 f"{cheap['rel_at_1']:>7.3f}")
    lines.append("weights: " + ", ".join(f"{k} {v:+.4f}" for k, v in summary["weights"].items()))
    lines.append(f"saved to {summary['saved']}")
    return "\n".join(lines)


def run_ground_truth(roots: Sequence[Path], specs: Sequence[ModelSpec], *,
                     full_run: Budget = DEFAULT_FULL_RUN, loader: Loader | None = None,
                     as_json: bool = False, out: IO[str] | None = None,
                     err: IO[str] | None = None) -> int:
    from selector.ranking.groundtruth import collect, fit
    from selector.ranking.rank import load_candidate

    out, err = out or sys.stdout, err or sys.stderr
    records = collect(roots, specs, full_run=full_run, loader=loader or load_candidate,
                      progress=lambda m: print(f"tailor select: {m}", file=err, flush=True))
    try:
        summary = fit(records)
    except ValueError as exc:
        print(f"tailor select: cannot fit the predictor yet: {exc}", file=err)
        return 1
    print(json.dumps(summary) if as_json else format_fit(summary), file=out)
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    from adapters.repo_context import find_repo_root

    try:
        full_run = Budget.parse(args.train_budget)
    except ValueError as exc:
        print(f"tailor select: {exc}", file=sys.stderr)
        return 2
    if args.ground_truth:
        roots = [Path(r).resolve() for r in args.ground_truth]
        missing = [str(r) for r in roots if not r.is_dir()]
        if missing:
            print(f"tailor select: not a directory: {', '.join(missing)}", file=sys.stderr)
            return 2
        return run_ground_truth([find_repo_root(r) or r for r in roots],
                                catalogue(args.candidate).specs, full_run=full_run,
                                as_json=args.json)

    path = Path(args.repo).resolve()
    if not path.is_dir():
        print(f"tailor select: {path} is not a directory", file=sys.stderr)
        return 2
    if args.budget < 0 or args.finalists < 0:
        print("tailor select: --budget and --finalists must be 0 or more", file=sys.stderr)
        return 2
    cat = catalogue(args.candidate)
    for spec, why in cat.rejected.items():
        print(f"tailor select: ignoring candidate {spec!r}: {why}", file=sys.stderr)
    return run_select(find_repo_root(path) or path, cat.specs, budget=args.budget,
                      finalists=args.finalists,
                      latency_budget_ms=args.latency_budget_ms, full_run=full_run,
                      as_json=args.json, report=Path(args.report) if args.report else None,
                      force=args.refresh)


def format_builds(rows: Sequence[dict[str, Any]]) -> str:
    lines = [f"{'model':<34} {'kind':<9} {'held-out loss':>13} {'unigram':>8}  verdict"]
    for row in rows:
        verdict = "beats unigram" if row["beats_unigram"] else "WORSE THAN UNIGRAM"
        lines.append(f"{row['model']:<34} {row['kind']:<9} {row['heldout_loss']:>13.3f} "
                     f"{row['unigram_loss']:>8.3f}  {verdict}")
    if rows:
        lines.append(f"(nats per token on {rows[0]['heldout_tokens']:,} held-out "
                     "standard-library tokens)")
    return "\n".join(lines)


def run_zoo_build(specs: Sequence[ModelSpec], *, base_loader: BaseLoader | None = None,
                  corpus: Corpus | None = None, zoo_tokens: int | None = None,
                  eval_tokens: int = BUILD_EVAL_TOKENS, as_json: bool = False,
                  out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """Build and evaluate; exit status 1 if a built model does not beat the unigram floor."""
    from selector.ranking.build import build_models, load_base

    out, err = out or sys.stdout, err or sys.stderr
    rows = build_models(specs, base_loader=base_loader or load_base, corpus=corpus,
                        zoo_tokens=zoo_tokens, eval_tokens=eval_tokens,
                        progress=lambda m: print(f"tailor zoo: {m}", file=err, flush=True))
    print(json.dumps(rows) if as_json else format_builds(rows), file=out)
    built = [r for r in rows if r["kind"] != "reference"]
    return 0 if all(r["beats_unigram"] for r in built) else 1


def cmd_zoo_build(args: argparse.Namespace) -> int:
    specs = [s for s in catalogue().specs if s.kind in ("derived", "zoo")]
    if args.only:
        known = {s.id for s in specs}
        unknown = [i for i in args.only if i not in known]
        if unknown:
            print(f"tailor zoo: unknown id(s) {', '.join(unknown)}; choose from "
                  f"{', '.join(sorted(known))}", file=sys.stderr)
            return 2
        specs = [s for s in specs if s.id in args.only]
    return run_zoo_build(specs, zoo_tokens=args.tokens, eval_tokens=args.eval_tokens,
                         as_json=args.json)
