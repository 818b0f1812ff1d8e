"""`tailor perf FILE [--against REV] [--json]` and `tailor perf --train`: the on-save hints
from the command line, and rebuilding the predictor they use."""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any


def cmd_perf(args: argparse.Namespace) -> int:
    from adapters.paths import cache_dir
    from selector.perf.check import custom_model_dir

    if args.train:
        from selector.perf.train import TrainConfig, train_model

        out = Path(args.out) if args.out else custom_model_dir()
        summary = train_model(out, cache_dir() / "perf", TrainConfig(labels=args.labels),
                              log=lambda message: print(f"tailor perf: {message}",
                                                        file=sys.stderr, flush=True))
        print(json.dumps(summary, default=str) if args.json else
              f"predictor written to {out} (used by the server from now on)")
        return 0
    if not args.file:
        print("tailor perf: give a FILE (or --train)", file=sys.stderr)
        return 2
    from adapters.paths import data_dir
    from selector.perf.calibration import Calibration
    from selector.perf.check import compute
    from selector.perf.hints import source_at_revision

    path = Path(args.file).resolve()
    try:
        new = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"tailor perf: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    old = source_at_revision(path, args.against)
    if old is None:
        print(f"tailor perf: {path.name} is not in git at {args.against}", file=sys.stderr)
        return 2
    for text, which in ((new, path.name), (old, f"{path.name} at {args.against}")):
        try:
            ast.parse(text)
        except SyntaxError as exc:
            print(f"tailor perf: {which} does not parse (line {exc.lineno}: {exc.msg}); "
                  "no function can be compared", file=sys.stderr)
            return 1
        except ValueError as exc:  # a null byte
            print(f"tailor perf: {which} is not Python source ({exc})", file=sys.stderr)
            return 1
    result = compute(old, new, 1.0 if args.all else args.threshold,
                     Calibration(data_dir() / "perf" / "measured.jsonl"))
    hints = [hint for hint, _ in result[0].values()] if result is not None else []
    data: dict[str, Any] = {"file": str(path), "against": args.against,
                            "functions": [h.to_json() for h in hints]}
    if args.json:
        print(json.dumps(data))
    elif not hints:
        print(f"{path.name}: no function changed since {args.against} is predicted "
              f"{args.threshold:g}x slower or faster")
    for hint in hints if not args.json else []:
        line = hint.range.start_line + 1
        print(f"{path.name}:{line}: {hint.qualname}: {hint.message()}")
    return 0


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("perf", help="predicted runtime change of each function changed "
                       "since a git revision (never runs the code)")
    p.add_argument("file", nargs="?")
    p.add_argument("--against", default="HEAD", help="git revision to compare with")
    p.add_argument("--threshold", type=float, default=1.5,
                   help="smallest ratio (either direction) to report (default 1.5)")
    p.add_argument("--all", action="store_true", help="every changed function")
    p.add_argument("--train", action="store_true",
                   help="rebuild the predictor (about 15 minutes on 2 cores, cached after)")
    p.add_argument("--labels", type=int, default=4000, help="--train: programs to time")
    p.add_argument("--out", help="--train: where to write it (default: the data directory)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_perf)
