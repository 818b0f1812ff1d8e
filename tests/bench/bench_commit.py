"""Commit messages on a repository's own recent commits (not collected by pytest).

    TAILOR_HOME=... .venv/bin/python tests/bench/bench_commit.py [REPO] [--commits 12] [--json]

The editor's Write Commit Message judged against what the authors really wrote. For each of
the newest non-merge first-parent commits of REPO (default /tmp/itsdangerous), a clone is
put at the commit's parent and the commit's change is staged (`git cherry-pick -n`), so the
writer sees exactly that diff and a history that ends before it. Three settings, in the same
process on the same staged changes:

  base      the base model, no examples (`CommitWriter.write(adapter="none")`)
  few-shot  the base model with the latest messages as examples (`adapter=None`, what the
            server does without an adapter; the examples come from commits before the one
            described, so the answer cannot leak in)
  adapter   the repository's active adapter (`load_for` as the server picks it)

BLEU-4 (sentence level, add-1 smoothing for n >= 2, brevity penalty) and ROUGE-L F1 on
lowercase word tokens, on the subject line and on the whole message; the share of plain
fallback messages (the model wrote nothing usable); mean seconds per message. An adapter
learns from the history minus its newest ~10% of commits: the commits it trained on are
marked, since their scores say nothing about held-out quality.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from adapters.commit_message import CommitMessageError, CommitWriter
from adapters.models import DEFAULT_MODEL
from server.assist_cli import load_for

SETTINGS = ("base", "few-shot", "adapter")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@localhost",
         "-c", "core.hooksPath=/dev/null", *args],
        capture_output=True, text=True, check=check, timeout=120,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})


# ---------------------------------------------------------------------------- metrics

def tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _ngrams(words: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def bleu4(hypothesis: str, reference: str) -> float:
    """Sentence BLEU-4: clipped n-gram precisions, add-1 smoothed for n >= 2 (Lin and Och
    2004, NLTK's method2), geometric mean, brevity penalty."""
    hyp, ref = tokens(hypothesis), tokens(reference)
    if not hyp or not ref:
        return 0.0
    logs = []
    for n in range(1, 5):
        h, r = _ngrams(hyp, n), _ngrams(ref, n)
        matched = sum(min(c, r[g]) for g, c in h.items())
        total = sum(h.values())
        if n == 1:
            if matched == 0:
                return 0.0
            logs.append(math.log(matched / total))
        else:
            logs.append(math.log((matched + 1) / (total + 1)))
    penalty = 1.0 if len(hyp) > len(ref) else math.exp(1 - len(ref) / len(hyp))
    return penalty * math.exp(sum(logs) / 4)


def rouge_l(hypothesis: str, reference: str) -> float:
    """ROUGE-L F1: the longest common subsequence over both lengths."""
    hyp, ref = tokens(hypothesis), tokens(reference)
    if not hyp or not ref:
        return 0.0
    previous = [0] * (len(ref) + 1)
    for h in hyp:
        row = [0]
        for j, r in enumerate(ref):
            row.append(previous[j] + 1 if h == r else max(previous[j + 1], row[j]))
        previous = row
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(hyp), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def subject(message: str) -> str:
    return message.strip().split("\n", 1)[0].strip()


# ---------------------------------------------------------------------------- commits

def candidate_commits(repo: Path, limit: int) -> list[str]:
    out = git(repo, "log", "--first-parent", "--no-merges", "--format=%H", f"-n{limit}").stdout
    return out.split()


def heldout_commits(repo: Path, model: str) -> tuple[set[str] | None, str]:
    """The commits the active adapter did not train on, from its metadata: the newest
    `commits_heldout` of the first-parent history at the commit it was trained at."""
    from adapters.dataset import repo_identity
    from adapters.store import AdapterStore

    info = AdapterStore().active(repo_identity(repo), model)
    if info is None:
        return None, "no active adapter"
    meta = info.metadata
    data: dict[str, Any] = meta["data"] if isinstance(meta.get("data"), dict) else {}
    held, trained_at = data.get("commits_heldout"), meta.get("commit")
    if held is None or not trained_at:
        return None, (f"adapter {info.version}: its metadata does not say which commits were "
                      "held out (training holds out the newest ~10% of first-parent commits)")
    proc = git(repo, "log", "--first-parent", "--no-merges", "--format=%H", f"-n{held}",
               trained_at, check=False)
    if proc.returncode != 0:
        return None, (f"adapter {info.version} was trained at {trained_at[:10]}, which this "
                      f"clone lacks; it held out the newest {held} commits of that history")
    shas = proc.stdout.split()
    return set(shas), (f"adapter {info.version} trained at {trained_at[:10]} "
                       f"({data.get('commits_seen', '?')} commits seen) held out its newest "
                       f"{held}: {' '.join(s[:7] for s in shas)}")


def stage(clone: Path, sha: str) -> str | None:
    """Put the clone at `sha`^ with `sha`'s change staged; the reason when that fails."""
    git(clone, "cherry-pick", "--abort", check=False)
    git(clone, "reset", "-q", "--hard", check=False)
    git(clone, "clean", "-qfdx", check=False)
    if git(clone, "checkout", "-q", "-f", f"{sha}^", check=False).returncode != 0:
        return "checkout of the parent failed"
    proc = git(clone, "cherry-pick", "-n", sha, check=False)
    if proc.returncode != 0:
        return f"cherry-pick failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}"
    if git(clone, "diff", "--cached", "--quiet", check=False).returncode == 0:
        return "nothing staged"
    return None


# ---------------------------------------------------------------------------- run

def run(args: argparse.Namespace) -> dict[str, Any]:
    repo = Path(args.repo).resolve()
    top = git(repo, "rev-parse", "--show-toplevel").stdout.strip()
    repo = Path(top)
    held, held_note = heldout_commits(repo, args.model)
    log(held_note)

    with tempfile.TemporaryDirectory(prefix="tailor-bench-commit-") as tmp:
        clone = Path(tmp) / repo.name  # the prompt names the repository by its folder
        git(Path(tmp), "clone", "-q", str(repo), str(clone))
        engines: dict[str, Any] = {}
        base_engine, _ = load_for(clone, args.model, use_adapter=False)
        engines["base"] = engines["few-shot"] = base_engine
        adapter_key = None
        if not args.no_adapter:
            adapter_engine, adapter_key = load_for(clone, args.model, use_adapter=True)
            if adapter_key is not None:
                engines["adapter"] = adapter_engine
            else:
                del adapter_engine
        adapter_note = (f"adapter {adapter_key}" if adapter_key else
                        "adapter: skipped (--no-adapter)" if args.no_adapter else
                        "adapter: skipped (no active adapter for this repository and model)")
        log(adapter_note)
        writers = {name: CommitWriter(engine, max_prompt_tokens=args.max_prompt_tokens,
                                      max_new_tokens=args.max_new_tokens)
                   for name, engine in engines.items()}

        rows: list[dict[str, Any]] = []
        skipped: list[dict[str, str]] = []
        for sha in candidate_commits(repo, args.commits * 4 + 10):
            if len(rows) >= args.commits:
                break
            if not git(repo, "rev-list", "--parents", "-n1", sha).stdout.split()[1:]:
                skipped.append({"sha": sha, "why": "root commit"})
                continue
            why = stage(clone, sha)
            if why:
                skipped.append({"sha": sha, "why": why})
                log(f"skip {sha[:7]}: {why}")
                continue
            reference = git(repo, "log", "-1", "--format=%B", sha).stdout.strip()
            row: dict[str, Any] = {"sha": sha, "reference": reference,
                                   "trained_on": None if held is None else sha not in held}
            try:
                for name, writer in writers.items():
                    writer.engine.reset()  # every message from a cold cache
                    started = time.perf_counter()
                    result = writer.write(clone, adapter=adapter_key if name == "adapter"
                                          else None if name == "few-shot" else "none")
                    seconds = time.perf_counter() - started
                    message = result.message
                    row[name] = {
                        "message": message, "source": result.source, "seconds": seconds,
                        "bleu_subject": bleu4(subject(message), subject(reference)),
                        "rouge_subject": rouge_l(subject(message), subject(reference)),
                        "bleu_message": bleu4(message, reference),
                        "rouge_message": rouge_l(message, reference)}
            except CommitMessageError as exc:
                skipped.append({"sha": sha, "why": str(exc)})
                log(f"skip {sha[:7]}: {exc}")
                continue
            rows.append(row)
            log(f"{len(rows):3}/{args.commits} {sha[:7]} {subject(reference)[:50]!r}: " + ", ".join(
                f"{n} {row[n]['seconds']:.1f}s" for n in writers))

    summary: dict[str, dict[str, Any]] = {}
    for name in writers:
        got = [r[name] for r in rows]
        if not got:
            continue
        summary[name] = {
            key: sum(g[key] for g in got) / len(got)
            for key in ("bleu_subject", "rouge_subject", "bleu_message", "rouge_message",
                        "seconds")}
        summary[name]["fallback"] = sum(g["source"] == "fallback" for g in got) / len(got)
        summary[name]["n"] = len(got)
        # The fallback ("Update a.py") shares words with many real subjects: the same
        # measures over the messages the model wrote.
        own = [g for g in got if g["source"] != "fallback"]
        summary[name]["model_n"] = len(own)
        for key in ("bleu_subject", "rouge_subject", "bleu_message", "rouge_message"):
            summary[name][f"model_{key}"] = (sum(g[key] for g in own) / len(own)
                                             if own else None)
    return {"repo": str(repo), "model": args.model, "adapter": adapter_key,
            "adapter_note": adapter_note, "heldout_note": held_note,
            "settings": list(writers), "summary": summary, "rows": rows, "skipped": skipped}


def report(result: dict[str, Any], examples: int, out: Any) -> None:
    rows, summary = result["rows"], result["summary"]
    print(f"\n{result['repo']}: {len(rows)} commits, model {result['model']}", file=out)
    print(result["heldout_note"], file=out)
    trained = [r["sha"][:7] for r in rows if r["trained_on"]]
    if trained:
        print(f"NOTE: the adapter trained on {len(trained)} of these commits: "
              f"{' '.join(trained)}", file=out)
    elif rows and rows[0]["trained_on"] is False:
        print("every benchmarked commit was held out from the adapter's training", file=out)
    if "adapter" not in result["settings"]:
        print(result["adapter_note"], file=out)
    if result["skipped"]:
        print("skipped: " + "; ".join(f"{s['sha'][:7]} ({s['why']})"
                                      for s in result["skipped"]), file=out)
    head = (f"{'setting':10} | {'BLEU-4 subj':>11} | {'ROUGE-L subj':>12} | {'BLEU-4 msg':>10} "
            f"| {'ROUGE-L msg':>11} | {'fallback %':>10} | {'mean s':>6}")
    print("\n" + head + "\n" + "-" * len(head), file=out)
    for name, s in summary.items():
        print(f"{name:10} | {s['bleu_subject'] * 100:11.1f} | {s['rouge_subject'] * 100:12.1f} "
              f"| {s['bleu_message'] * 100:10.1f} | {s['rouge_message'] * 100:11.1f} "
              f"| {s['fallback'] * 100:10.0f} | {s['seconds']:6.1f}", file=out)
    print("(BLEU-4 and ROUGE-L F1 x 100, means over commits)", file=out)
    print("\nthe same over the messages the model wrote (fallbacks left out):", file=out)
    for name, s in summary.items():
        cells = [("n/a" if s[f"model_{k}"] is None else f"{s[f'model_{k}'] * 100:.1f}").rjust(w)
                 for k, w in (("bleu_subject", 11), ("rouge_subject", 12),
                              ("bleu_message", 10), ("rouge_message", 11))]
        print(f"{name:10} | " + " | ".join(cells) + f" | {s['model_n']:3} of {s['n']} written",
              file=out)
    for name in summary:
        print(f"\n{name}: examples (real -> generated)", file=out)
        for r in rows[:examples]:
            got = r[name]
            mark = " [fallback]" if got["source"] == "fallback" else ""
            print(f"  {r['sha'][:7]} real: {subject(r['reference'])}", file=out)
            print(f"          gen:  {subject(got['message'])}{mark}", file=out)
            body = got["message"].split("\n\n", 1)[1:] or [""]
            for line in body[0].splitlines()[:3]:
                print(f"                {line}", file=out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", nargs="?", default="/tmp/itsdangerous")
    parser.add_argument("--commits", type=int, default=12)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--no-adapter", action="store_true", help="skip the adapter setting")
    parser.add_argument("--max-prompt-tokens", type=int, default=1536)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--examples", type=int, default=3, help="pairs shown per setting")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object on stdout (the table goes to stderr)")
    args = parser.parse_args()
    result = run(args)
    report(result, args.examples, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result))
    return 0 if result["rows"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
