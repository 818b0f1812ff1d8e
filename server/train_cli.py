"""`tailor train` and `tailor adapters list|rm`.

Training is meant to run in its own process (the server starts `tailor train
--progress-jsonl` as a child), so this module is also the child's whole protocol: one JSON
object per line on stdout (`{"event": "progress", ...}`, then `{"event": "done", ...}` or
`{"event": "error", ...}`), and SIGTERM or SIGINT stop it cleanly at the next step without
saving anything.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.models import DEFAULT_MODEL


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("train", help="train the repository's LoRA adapter")
    p.add_argument("repo", nargs="?", default=".", help="the repository (default: here)")
    p.add_argument("--budget", default="10m", help="90s, 10m, 1h or 200k-tokens")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.add_argument("--progress-jsonl", action="store_true",
                   help="one JSON object per line on stdout (progress, then the summary)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("adapters", help="list or remove trained adapters")
    adapters = p.add_subparsers(dest="adapters_command", required=True)
    a = adapters.add_parser("list", help="every stored adapter and its state")
    a.add_argument("--repo", help="only this repository (its id or a path inside it)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_adapters_list)
    a = adapters.add_parser("rm", help="remove adapters")
    a.add_argument("target", help="a repository id, a repository path, or an adapter path")
    a.add_argument("--model", help="only this model's adapters")
    a.add_argument("--version", help="only this version (needs the model)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_adapters_rm)


class _Reporter:
    """Progress as a bar on stderr, or as JSON lines on stdout for a parent process."""

    def __init__(self, jsonl: bool) -> None:
        self.jsonl = jsonl
        self._bar: Any = None
        self._last = 0.0

    def stage(self, phase: str, message: str) -> None:
        if self.jsonl:
            self._line({"event": "progress", "phase": phase, "message": message})
        else:
            print(f"tailor: {message}", file=sys.stderr, flush=True)

    def progress(self, event: dict[str, Any]) -> None:
        if self.jsonl:
            now = time.monotonic()
            if event["phase"] != "train" or now - self._last >= 0.5:
                self._last = now
                self._line({"event": "progress", **event})
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=1000, file=sys.stderr, dynamic_ncols=True,
                             bar_format="{percentage:3.0f}%|{bar}| {desc}")
        parts = [f"{event['tokens'] / 1000:.1f}k tokens"]
        if event.get("loss") is not None:
            parts.append(f"loss {event['loss']:.3f}")
        if event.get("heldout_loss") is not None:
            parts.append(f"held-out {event['heldout_loss']:.3f}")
        if event.get("eta_s") is not None:
            parts.append(f"ETA {int(event['eta_s']) // 60}:{int(event['eta_s']) % 60:02d}")
        self._bar.set_description_str(", ".join(parts), refresh=False)
        self._bar.update(max(0, int(event["fraction"] * 1000) - self._bar.n))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    @staticmethod
    def _line(data: dict[str, Any]) -> None:
        print(json.dumps(data), flush=True)


def _stop_on_signals(cancel: threading.Event) -> Callable[[], None]:
    """First SIGINT/SIGTERM: finish the current step and stop; a second SIGINT: now.
    Returns what puts the previous handlers back."""
    def handler(signum: int, _frame: Any) -> None:
        cancel.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    try:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (tests calling main()): no signals to catch
        return lambda: None

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def _head_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if getattr(args, "progress_jsonl", False):
        print(json.dumps({"event": "error", "message": message}), flush=True)
    print(f"tailor: {message}", file=sys.stderr)
    return code


def cmd_train(args: argparse.Namespace) -> int:
    from adapters.dataset import build_training_data
    from adapters.lora import attach
    from adapters.models import ModelError, load
    from adapters.repo_context import find_repo_root
    from adapters.store import AdapterStore
    from adapters.train import Budget, train

    try:
        budget = Budget.parse(args.budget)
    except ValueError as exc:
        return _fail(args, str(exc), 2)
    path = Path(args.repo).resolve()
    if not path.is_dir():
        return _fail(args, f"{path} is not a directory", 2)
    root = find_repo_root(path) or path
    out = _Reporter(args.progress_jsonl)
    out.stage("data", f"reading {root}")
    data = build_training_data(root)
    if not data.train:
        note = data.summary.get("note") or "no source files found"
        return _fail(args, f"no training data in {root} ({note})", 1)
    out.stage("model", f"loading {args.model}")
    try:
        loaded = load(args.model)
    except ModelError as exc:
        return _fail(args, str(exc), 1)
    peft_model = attach(loaded.model)
    cancel = threading.Event()
    restore_signals = _stop_on_signals(cancel)
    out.stage("train", f"training on {len(data.train)} examples for {budget.describe()}")
    try:
        result = train(peft_model, loaded.tokenizer, data, budget=budget, progress=out.progress,
                       cancel=cancel, seed=args.seed)
    finally:
        out.close()
        restore_signals()

    repo_id = str(data.summary.get("repo_id") or "")
    if not repo_id:
        from adapters.dataset import repo_identity

        repo_id = repo_identity(root)
    scores = {k: getattr(result, k) for k in (
        "tokens", "seconds", "steps", "heldout_loss_before", "heldout_loss_after",
        "exact_match_before", "exact_match_after", "improved", "cancelled", "stop_reason",
        "heldout_tokens", "nextline_pairs", "fim_exact_match_after",
        "prefix_exact_match_after", "fim_probes")}
    summary: dict[str, Any] = {"event": "done", "repo": str(root), "repo_id": repo_id,
                               "model": loaded.source.name, "budget": args.budget, **scores,
                               "adapter_path": None, "version": None, "activated": False,
                               "data": data.summary}
    if not result.cancelled:
        metadata = {"commit": _head_commit(root), "repo": str(root), "budget": args.budget,
                    "data": data.summary, "base_model_path": loaded.path, **scores,
                    "evals": result.evals}
        info = AdapterStore().commit_version(repo_id, loaded.source.name, peft_model, metadata,
                                             activate=result.improved)
        summary.update(adapter_path=str(info.path), version=info.version,
                       activated=result.improved)
    if args.json or args.progress_jsonl:
        print(json.dumps(summary), flush=True)
    else:
        print(_describe(summary))
    return 130 if result.cancelled else 0


def _fmt(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def _describe(s: dict[str, Any]) -> str:
    if s["cancelled"]:
        head = "training cancelled; nothing saved"
    elif s["activated"]:
        head = f"adapter {s['adapter_path']} (active)"
    else:
        head = (f"adapter {s['adapter_path']} saved but not activated: it is no better than "
                "the base model on held-out data")
    return "\n".join([
        head,
        f"held-out loss {_fmt(s['heldout_loss_before'], '{:.4f}')} -> "
        f"{_fmt(s['heldout_loss_after'], '{:.4f}')}; next-line exact match "
        f"{_fmt(s['exact_match_before'], '{:.1%}')} -> {_fmt(s['exact_match_after'], '{:.1%}')}"
        f" ({s['nextline_pairs']} lines)",
        f"with the text after the cursor (fill-in-the-middle) "
        f"{_fmt(s['fim_exact_match_after'], '{:.1%}')} vs the prefix alone "
        f"{_fmt(s['prefix_exact_match_after'], '{:.1%}')} ({s['fim_probes']} lines)",
        f"trained {s['tokens']:,} tokens in {s['seconds']:.0f}s ({s['steps']} steps, "
        f"stopped by {s['stop_reason']})",
    ])


def _repo_id_of(text: str) -> str:
    """A repository id as given, or the id of the repository at a path."""
    path = Path(text).expanduser()
    if path.is_dir():
        from adapters.dataset import repo_identity
        from adapters.repo_context import find_repo_root

        resolved = path.resolve()
        return repo_identity(find_repo_root(resolved) or resolved)
    return text


def cmd_adapters_list(args: argparse.Namespace) -> int:
    from adapters.store import AdapterStore

    infos = AdapterStore().list(_repo_id_of(args.repo) if args.repo else None)
    if args.json:
        print(json.dumps({"adapters": [info.to_dict() for info in infos]}))
        return 0
    if not infos:
        print("no adapters")
    for info in infos:
        meta = info.metadata
        scores = (f"loss {_fmt(meta.get('heldout_loss_before'), '{:.3f}')} -> "
                  f"{_fmt(meta.get('heldout_loss_after'), '{:.3f}')}" if info.valid
                  else info.problem)
        print(f"{info.repo_id}  {info.model}  {info.version}  {info.state:8}  {scores}  "
              f"{meta.get('repo', info.path)}")
    return 0


def cmd_adapters_rm(args: argparse.Namespace) -> int:
    from adapters.store import AdapterStore

    store = AdapterStore()
    repo_id, model, version = _repo_id_of(args.target), args.model, args.version
    target = Path(args.target).expanduser().resolve()
    root = store.root.resolve()
    if target.is_relative_to(root):  # a path inside the store: it names what to remove
        parts = target.relative_to(root).parts
        if not parts or len(parts) > 3:
            return _fail(args, f"{args.target} is not a repository, model or version "
                               "directory of the adapter store", 2)
        repo_id = parts[0]
        model = parts[1] if len(parts) > 1 else model
        version = parts[2] if len(parts) > 2 else version
    try:
        removed = store.remove(repo_id, model, version)
    except ValueError as exc:
        return _fail(args, str(exc), 2)
    if args.json:
        print(json.dumps({"removed": [str(p) for p in removed]}))
    else:
        print("\n".join(f"removed {p}" for p in removed) or "nothing to remove")
    return 0 if removed else 1
