"""Adapter swap latency (not collected by pytest: run it by hand).

    .venv/bin/python tests/bench/bench_swap.py [--rounds 20]

Same as `tailor bench swap`: p50 of switching to a loaded adapter and to one read from disk,
as multiples of one decode step of the same model measured in the same run.
"""

from __future__ import annotations

import sys

from server.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", "swap", *sys.argv[1:]]))
