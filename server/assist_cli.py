"""`tailor commit-message` and `tailor repair`: the editor features from a shell.

Each loads the model and the repository's active adapter the way the server does, so what
the command prints is what the editor would offer.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from adapters.models import DEFAULT_MODEL


def load_for(root: Path, model: str, use_adapter: bool) -> tuple[Any, str | None]:
    """(engine, active adapter key or None) for `root`'s repository."""
    from adapters.active import AdapterSelector
    from adapters.completion import Completer
    from adapters.engine import Engine
    from adapters.models import load
    from adapters.slots import AdapterSlots
    from adapters.store import AdapterStore

    loaded = load(model)
    engine = Engine(loaded.model, loaded.tokenizer)
    completer = Completer(engine, loaded.source.name)
    selector = AdapterSelector(AdapterStore(), AdapterSlots(loaded.model, 1), completer,
                               loaded.source.name,
                               on_problem=lambda message: print(f"tailor: {message}",
                                                                file=sys.stderr))
    choice = selector.select(root / "COMMIT_EDITMSG", use_adapter)
    return engine, choice.key


def cmd_commit_message(args: argparse.Namespace) -> int:
    from adapters.commit_message import CommitMessageError, CommitWriter, repo_root_of

    try:
        root = repo_root_of(Path(args.repo).resolve())
        engine, adapter = load_for(root, args.model, not args.no_adapter)
        writer = CommitWriter(engine, max_prompt_tokens=args.max_prompt_tokens,
                              max_new_tokens=args.max_new_tokens)
        result = writer.write(root, adapter=adapter)
    except CommitMessageError as exc:
        print(f"tailor: {exc}", file=sys.stderr)
        return 2
    if result.notice:
        print(f"tailor: {result.notice}", file=sys.stderr)
    print(json.dumps(result.to_dict()) if args.json else result.message, flush=True)
    return 0


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("commit-message",
                       help="a commit message for the staged diff (else the unstaged one)")
    p.add_argument("repo", nargs="?", default=".", help="the repository (default: here)")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--no-adapter", action="store_true",
                   help="use the base model with recent messages as examples")
    p.add_argument("--max-prompt-tokens", type=int, default=1536)
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_commit_message)
