"""The selector's defaults, where the command line can read them without importing torch
(the ranking and the builds do; `tailor --help` and `tailor perf` should not pay for it)."""

from __future__ import annotations

from adapters.budget import Budget

DEFAULT_FULL_RUN = Budget(tokens=50_000)  # one "full" fine-tune of the search
# Candidates (best by the cheap tier) that also get the expensive proxies and the learned
# predictor. 0 by default: on the ground truth (tests/bench/bench_select.py, four
# repositories) the cheap tier alone costs 6 % of brute force (Rel@1 1.000, Kendall tau
# 0.911); the expensive tier for the top 2 or 3 ranks a little better (tau 0.929) at
# 25-32 %, over the selector's 20 % target. `selector.finalists` turns it on.
FULL_TOP = 0
# Real fine-tunes one ranking may run by default (`selector.fineTunes`). 0 by default: one
# full run of the cheap tier's pick added 10 points of compute (16.6 % of brute force) and
# cannot change the pick; the halving needs 3 or more to compare anything.
FINE_TUNES = 0
# Held-out tokens `tailor zoo build` judges each built model on.
BUILD_EVAL_TOKENS = 16_384
