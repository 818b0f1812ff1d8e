"""Completion latency benchmark (not collected by pytest: run it by hand).

    .venv/bin/python tests/bench/bench_completion.py [--cursors 12] [FILES...]

Same as `tailor bench completion`: p50/p95 through the LSP for a new cursor, one more typed
character and typing through a suggestion, as ratios to transformers `generate` run in the
same process on the same prompts.
"""

from __future__ import annotations

import sys

from server.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", "completion", *sys.argv[1:]]))
