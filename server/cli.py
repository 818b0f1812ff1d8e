"""The `tailor` command line. Results go to stdout (one JSON object with --json); logs and
progress go to stderr, because for `tailor serve` stdout is the protocol."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from adapters.models import DEFAULT_MODEL, ModelError


def _setup_logging(level: str, log_file: str | None = None) -> None:
    handler: logging.Handler = (logging.FileHandler(log_file) if log_file
                                else logging.StreamHandler(sys.stderr))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # transformers and tqdm write progress bars; keep them on stderr and quiet.
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data) if args.json else text, flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    from server.app import create_server

    create_server().start_io()
    return 0


def cmd_complete(args: argparse.Namespace) -> int:
    from adapters.cache import CompletionCache
    from adapters.completion import Completer, CompletionOptions
    from adapters.engine import Engine
    from adapters.models import load
    from adapters.paths import cache_dir
    from adapters.prompt import split_at
    from adapters.repo_context import MAX_FILE_BYTES, read_text

    path = Path(args.file).resolve()
    if not path.is_file():
        print(f"tailor: {path} is not a file", file=sys.stderr)
        return 2
    text = read_text(path)
    if text is None:
        print(f"tailor: {path} is binary or larger than {MAX_FILE_BYTES} bytes", file=sys.stderr)
        return 2
    prefix, suffix = split_at(text, args.line, args.character)
    loaded = load(args.model)
    completer = Completer(Engine(loaded.model, loaded.tokenizer), loaded.source.name,
                          CompletionCache(cache_dir() / "completions"))
    options = CompletionOptions(max_prompt_tokens=args.max_prompt_tokens,
                                max_new_tokens=args.max_new_tokens, multiline=args.multiline,
                                timeout_ms=args.timeout_ms)
    result = completer.complete(path=path, prefix=prefix, suffix=suffix, options=options)
    data = {**result.to_dict(), "model": loaded.source.name,
            "load_seconds": round(loaded.load_seconds, 2)}
    _emit(args, data, result.text)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from server.doctor import run_doctor

    report = run_doctor(args.model, load_model=not args.no_load, backend=args.backend,
                        export=args.export)
    if args.json:
        print(json.dumps(report))
    else:
        for check in report["checks"]:
            mark = "ok " if check["ok"] else "!! "
            print(f"{mark} {check['name']}: {check['detail']}")
            if not check["ok"] and check.get("fix"):
                print(f"     fix: {check['fix']}")
    return 0 if report["ok"] else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from server.demo import run_demo

    return run_demo(args.file, args.model)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.backend:
        from server.bench_backends import bench_backends

        report = bench_backends([b for b in args.backend.split(",") if b], files=args.files,
                                cursors=args.cursors, model=args.model,
                                prompt_tokens=args.prompt_tokens, new_tokens=args.new_tokens,
                                adapter=Path(args.adapter) if args.adapter else None,
                                variant=args.variant)
    else:
        from server.bench import bench_completion

        report = bench_completion(files=args.files, cursors=args.cursors, model=args.model,
                                  prompt_tokens=args.prompt_tokens,
                                  new_tokens=args.new_tokens)
    if args.json:
        print(json.dumps(report))
    return 0


def cmd_bench_swap(args: argparse.Namespace) -> int:
    from server.bench_adapters import bench_swap

    report = bench_swap(model=args.model, rounds=args.rounds)
    if args.json:
        print(json.dumps(report))
    return 0


def cmd_bench_train(args: argparse.Namespace) -> int:
    import runpy

    script = Path(__file__).resolve().parent.parent / "tests" / "bench" / "bench_train.py"
    if not script.is_file():
        print("tailor: tests/bench/bench_train.py ships with the source checkout only",
              file=sys.stderr)
        return 2
    sys.argv = [str(script), *args.args]
    runpy.run_path(str(script), run_name="__main__")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tailor", description=__doc__)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--log-file", default=None, help="log here instead of stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the language server over stdio")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("complete", help="complete FILE at a 0-based position")
    p.add_argument("file")
    p.add_argument("--line", type=int, required=True)
    p.add_argument("--character", type=int, required=True)
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--max-prompt-tokens", type=int, default=1024)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--multiline", choices=("auto", "always", "never"), default="auto")
    p.add_argument("--timeout-ms", type=int, default=30_000)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_complete)

    p = sub.add_parser("doctor", help="check the installation and the model")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--no-load", action="store_true", help="skip loading the model")
    p.add_argument("--backend", choices=("auto", "torch", "onnxruntime"), default="auto",
                   help="the backend setting to check (default: auto)")
    p.add_argument("--export", action="store_true",
                   help="build the onnxruntime export now if it is missing (minutes, once)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("demo", help="complete a real Python file at a few cursors, with timings")
    p.add_argument("file", nargs="?", help="a Python file (default: the stdlib's textwrap.py)")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("bench", help="benchmarks (not tests)")
    bench = p.add_subparsers(dest="bench", required=True)
    b = bench.add_parser("completion", help="LSP completion latency vs transformers generate")
    b.add_argument("files", nargs="*", help="Python files (default: some of the stdlib)")
    b.add_argument("--cursors", type=int, default=12)
    b.add_argument("--model", default=DEFAULT_MODEL)
    b.add_argument("--prompt-tokens", type=int, default=1500)
    b.add_argument("--new-tokens", type=int, default=16)
    b.add_argument("--backend", metavar="B[,B...]",
                   help="compare engines instead of the LSP path: torch, onnxruntime, "
                        "llama.cpp (comma-separated)")
    b.add_argument("--adapter", help="adapter directory for --backend (default: the newest "
                   "stored adapter of the model)")
    b.add_argument("--variant", choices=("fp32", "int8", "int4"),
                   help="onnxruntime graph to run (default: the one chosen at export)")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench)
    b = bench.add_parser("swap", help="adapter switch latency vs one decode step")
    b.add_argument("--model", default=DEFAULT_MODEL)
    b.add_argument("--rounds", type=int, default=20)
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench_swap)
    b = bench.add_parser("train", help="training loop tokens/s vs bare forward+backward")
    b.add_argument("args", nargs=argparse.REMAINDER, help="passed to tests/bench/bench_train.py")
    b.set_defaults(func=cmd_bench_train)

    from server.train_cli import add_parsers as add_training_parsers

    add_training_parsers(sub)  # train, adapters list|rm
    from server.assist_cli import add_parsers as add_assist_parsers

    add_assist_parsers(sub)  # commit-message, repair
    from server.perf_cli import add_parsers as add_perf_parsers

    add_perf_parsers(sub)  # perf
    from server.select_cli import add_parsers as add_select_parsers

    add_select_parsers(sub)  # select, zoo build
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = args.log_level
    if args.command == "serve" and level == "warning":
        level = "info"
    _setup_logging(level, args.log_file)
    try:
        return int(args.func(args))
    except ModelError as exc:
        print(f"tailor: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
