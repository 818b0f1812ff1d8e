"""What a repository's adapter changes, on its held-out files (not collected by pytest).

    .venv/bin/python tests/bench/bench_adapter_effect.py REPO [--pairs 40] [--context 512]

Next-line exact match at held-out line starts with the base model and with the repository's
active adapter, and, at held-out cursors with code after them, the adapter with a
fill-in-the-middle prompt against the same adapter given the prefix alone. Everything runs
in this process on the same cursors, so the figures compare directly.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from adapters.dataset import build_training_data, repo_identity
from adapters.evaluation import exact_match
from adapters.models import DEFAULT_MODEL, load
from adapters.repo_context import find_repo_root
from adapters.slots import AdapterSlots
from adapters.store import AdapterStore


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("repo")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--context", type=int, default=512, help="prompt tokens kept")
    args = parser.parse_args()

    path = Path(args.repo).resolve()
    root = find_repo_root(path) or path
    data = build_training_data(root)
    loaded = load(args.model)
    info = AdapterStore().active(repo_identity(root), loaded.source.name)
    if info is None:
        print(f"no active adapter for {root}: run `tailor train {root}` first", file=sys.stderr)
        return 1
    pairs = data.nextline[: args.pairs]
    probes = data.fim_probes[: args.pairs]
    plain = [(p, line) for p, _, line in probes]
    fim = [(f, line) for _, f, line in probes]
    slots = AdapterSlots(loaded.model)

    def em(label: str, items: list[tuple[str, str]]) -> None:
        started = time.perf_counter()
        score, tried = exact_match(loaded.model, loaded.tokenizer, items,
                                   context_tokens=args.context)
        shown = "n/a" if score is None else f"{score:6.1%}"
        print(f"{label:44} {shown}  ({tried} lines, {time.perf_counter() - started:.0f} s)",
              flush=True)

    print(f"{root}: adapter {info.version} ({info.metadata.get('tokens', '?')} tokens trained)")
    slots.use(None)
    em("next line, base model", pairs)
    em("cursor with code after it, base, prefix only", plain)
    slots.use(info.version, info.path)
    em("next line, adapter", pairs)
    em("cursor with code after it, adapter, prefix only", plain)
    em("cursor with code after it, adapter, FIM", fim)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
