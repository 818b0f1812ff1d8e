"""The ranking as a child process: `python -m selector.ranking.job ROOT [options]`.

The server runs the ranking here, at low priority, so minutes of measuring and
fine-tuning never share the server's interpreter (its event loop, its model, its memory).
Progress goes to stderr as `progress <percent> <message>` lines (the protocol of the
onnxruntime export child); the result is one JSON object on stdout:
`{"candidates": [...], "meta": {...}, "refreshed": bool, "reason": str}`.
Exit status 1 with the reason on stderr when the repository has nothing to rank.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from adapters.train import Budget
from selector.ranking.catalogue import catalogue
from selector.ranking.rank import (
    DEFAULT_FULL_RUN,
    FINE_TUNES,
    FULL_TOP,
    load_predictor,
    rank_repository,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selector.ranking.job")
    parser.add_argument("root")
    parser.add_argument("--current", default=None)
    parser.add_argument("--budget", type=int, default=FINE_TUNES)
    parser.add_argument("--finalists", type=int, default=FULL_TOP)
    parser.add_argument("--train-budget", default=DEFAULT_FULL_RUN.describe().replace(" ", "-"))
    parser.add_argument("--latency-budget-ms", type=float, default=500.0)
    parser.add_argument("--candidate", action="append", default=[])
    parser.add_argument("--refresh", action="store_true")
    args = parser.parse_args(argv)

    cat = catalogue(args.candidate)
    for spec, why in cat.rejected.items():
        print(f"ignoring candidate {spec!r}: {why}", file=sys.stderr, flush=True)
    available = len(cat.available())
    finalists = max(0, args.finalists)
    steps = max(1, available + (min(available, finalists) if available > finalists else 0)
                + args.budget)
    done = 0

    def progress(message: str) -> None:
        nonlocal done
        if message.startswith(("measuring", "fine-tuning")):
            done += 1
        pct = min(99, int(100 * done / steps))
        print(f"progress {pct} {message}", file=sys.stderr, flush=True)

    try:
        ranking = rank_repository(args.root, cat.specs, budget=args.budget,
                                  latency_budget_ms=args.latency_budget_ms,
                                  predictor=load_predictor(), progress=progress,
                                  cheap_predictor=load_predictor(kind="cheap"),
                                  full_run=Budget.parse(args.train_budget),
                                  force=args.refresh, current=args.current,
                                  full_top=finalists)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    json.dump({"candidates": ranking.candidates, "meta": ranking.meta,
               "refreshed": ranking.refreshed, "reason": ranking.reason}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
