"""Ablation for the perf predictor's data efficiency: AST token sequences instead of counts
(not collected by pytest: run it by hand).

    .venv/bin/python tests/bench/bench_perf_sequence.py [--cache DIR] [--hybrid]
        [--sizes 100,400,1600] [--seeds 1] [--steps 600] [--pretrain-seconds 1500]

Why it exists: the shipped predictor (116 counts per function, `bench_perf.py`) does not
get the paper's label saving from pre-training, and the suspected cause was the input being
too poor for a representation to be worth learning. This tries the richer one: a function as
its pre-order AST tokens (node types; variables numbered by first use; builtins and common
methods by name; int and str constants bucketed by log size; each token's loop depth), a
small transformer encoder pre-trained as a masked denoising autoencoder (15 % of tokens
masked and reconstructed) on unlabelled generated programs and standard-library functions,
then fine-tuned with a regression head on the same labelled programs as `bench_perf.py`
(train seed 0, 1,200 held-out programs of seed 1), against the same network from scratch.
`--hybrid` also feeds the 116 counts through an MLP beside the sequence code.

Measured (closing note of issue 7; 1 seed, 600 steps): pre-training did not help and both
were worse than the counts model, so none of this ships.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import math
import random
import sys
import sysconfig
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from selector.perf.features import iter_functions  # noqa: E402
from selector.perf.labels import build_labelled_set, generate_programs  # noqa: E402
from selector.perf.train import pair_direction_accuracy  # noqa: E402

MAX_LEN = 256
NAMES = {"len", "range", "sorted", "sum", "min", "max", "any", "all", "list", "set", "dict",
         "tuple", "str", "int", "enumerate", "zip", "reversed", "map", "filter", "isinstance",
         "print", "open", "repr", "abs", "iter", "next", "getattr", "hasattr", "frozenset",
         "re", "np", "numpy", "torch", "os", "self", "cls", "super", "type", "bytes", "float",
         "Counter", "defaultdict", "deque", "OrderedDict", "math", "itertools", "heapq",
         "bisect"}
ATTRS = {"append", "extend", "pop", "insert", "remove", "index", "count", "sort", "join",
         "split", "replace", "find", "startswith", "endswith", "strip", "lower", "upper",
         "format", "get", "keys", "values", "items", "add", "update", "discard", "copy",
         "compile", "match", "search", "findall", "sub", "finditer", "popleft", "appendleft",
         "setdefault", "encode", "decode", "read", "write", "dot", "array", "zeros",
         "heappush", "heappop", "bisect_left", "insort", "group", "rstrip", "lstrip",
         "splitlines", "isdigit", "clear", "reverse", "mean", "tolist", "reshape"}
NODE_TYPES = sorted(n for n in dir(ast) if isinstance(getattr(ast, n), type)
                    and issubclass(getattr(ast, n), ast.AST))
VOCAB = (["<pad>", "<mask>", "<unk>", "<cls>"] + [f"T:{n}" for n in NODE_TYPES]
         + [f"N:{n}" for n in sorted(NAMES)] + [f"V{i}" for i in range(24)]
         + ["Vmore", "Aother"] + [f"A:{a}" for a in sorted(ATTRS)]
         + [f"I{b}" for b in range(-1, 21)] + [f"S{b}" for b in range(8)]
         + ["Cbool", "Cnone", "Cfloat", "Cbytes", "Cother"])
INDEX = {t: i for i, t in enumerate(VOCAB)}
PAD, MASK, UNK, CLS = 0, 1, 2, 3
LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.comprehension)
NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def constant_token(value: object) -> str:
    if isinstance(value, bool):
        return "Cbool"
    if value is None:
        return "Cnone"
    if isinstance(value, int):
        return f"I{min(20, int(math.log2(value + 1)))}" if value >= 0 else "I-1"
    if isinstance(value, str):
        return f"S{min(7, int(math.log2(len(value) + 1)))}"
    return {float: "Cfloat", bytes: "Cbytes"}.get(type(value), "Cother")


def tokenize(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[list[int], list[int]]:
    """(token ids, loop depth of each) of one function, <cls> first, cut at MAX_LEN."""
    tokens, depths = [CLS], [0]
    names: dict[str, int] = {}

    def emit(token: str, depth: int) -> None:
        tokens.append(INDEX.get(token, UNK))
        depths.append(min(depth, 4))

    def name(ident: str) -> str:
        if ident in NAMES:
            return f"N:{ident}"
        k = names.setdefault(ident, len(names))
        return f"V{k}" if k < 24 else "Vmore"

    def visit(node: ast.AST, depth: int) -> None:
        if len(tokens) >= MAX_LEN or isinstance(node, ast.expr_context):
            return
        emit(f"T:{type(node).__name__}", depth)
        if isinstance(node, NESTED):
            return  # a nested definition is a function of its own
        if isinstance(node, ast.Name):
            emit(name(node.id), depth)
            return
        if isinstance(node, ast.Constant):
            emit(constant_token(node.value), depth)
            return
        if isinstance(node, ast.arg):
            emit(name(node.arg), depth)
        if isinstance(node, ast.Attribute):
            emit(f"A:{node.attr}" if node.attr in ATTRS else "Aother", depth)
        for field, value in ast.iter_fields(node):
            inner = depth + 1 if isinstance(node, LOOPS) and field != "iter" else depth
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    visit(child, inner)

    emit(f"T:{type(fn).__name__}", 0)
    for a in fn.args.args + fn.args.kwonlyargs:
        visit(a, 0)
    for stmt in fn.body:
        visit(stmt, 0)
    return tokens[:MAX_LEN], depths[:MAX_LEN]


def entry_tokens(source: str) -> tuple[list[int], list[int]]:
    fn = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef))
    return tokenize(fn)


def pack(seqs: list[tuple[list[int], list[int]]]) -> tuple[np.ndarray, np.ndarray]:
    tokens = np.zeros((len(seqs), MAX_LEN), np.int64)
    depths = np.zeros((len(seqs), MAX_LEN), np.int64)
    for i, (t, d) in enumerate(seqs):
        tokens[i, :len(t)], depths[i, :len(d)] = t, d
    return tokens, depths


def unlabelled(generated: int, real: int) -> tuple[np.ndarray, np.ndarray]:
    """Generated programs (features only, never timed) and standard-library functions."""
    seqs = [entry_tokens(p.source()) for p in generate_programs(generated, 10_000)[0]]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.rglob("*.py")
                   if "site-packages" not in p.parts and "test" not in p.parts)
    random.Random(0).shuffle(files)
    found: list[tuple[list[int], list[int]]] = []
    for path in files:
        if len(found) >= real:
            break
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(path.read_text(errors="replace"))
        except (SyntaxError, ValueError, RecursionError):
            continue
        found += [tokenize(fn) for _, fn in iter_functions(tree)]
    return pack(seqs + found[:real])


class SeqNet(nn.Module):
    """tokens + depths (+ counts) -> log seconds; `hidden` is what the masked
    autoencoder reconstructs from."""

    c_mean: torch.Tensor
    c_std: torch.Tensor
    y_mean: torch.Tensor
    y_std: torch.Tensor

    def __init__(self, counts: int = 0, dim: int = 64) -> None:
        super().__init__()
        self.tok = nn.Embedding(len(VOCAB), dim)
        self.dep = nn.Embedding(5, dim)
        self.pos = nn.Embedding(MAX_LEN, dim)
        layer = nn.TransformerEncoderLayer(dim, 4, dim * 2, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.mlm = nn.Linear(dim, len(VOCAB))
        self.counts = (nn.Sequential(nn.Linear(counts, 128), nn.GELU(), nn.Linear(128, 64),
                                     nn.GELU()) if counts else None)
        self.register_buffer("c_mean", torch.zeros(max(counts, 1)))
        self.register_buffer("c_std", torch.ones(max(counts, 1)))
        self.head = nn.Sequential(nn.Linear(2 * dim + (64 if counts else 0), 64), nn.GELU(),
                                  nn.Linear(64, 1))
        self.register_buffer("y_mean", torch.zeros(()))
        self.register_buffer("y_std", torch.ones(()))

    def hidden(self, t: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        length = int((t != PAD).sum(1).max())
        t, d = t[:, :length], d[:, :length]
        h = self.tok(t) + self.dep(d) + self.pos(torch.arange(length)[None])
        return self.norm(self.enc(h, src_key_padding_mask=t == PAD)), t != PAD

    def forward(self, t: torch.Tensor, d: torch.Tensor,
                c: torch.Tensor | None = None) -> torch.Tensor:
        h, real = self.hidden(t, d)
        weights = real.float()[..., None]
        parts = [(h * weights).sum(1) / weights.sum(1),
                 h.masked_fill(~real[..., None], -1e4).max(1).values]
        if self.counts is not None and c is not None:
            parts.append(self.counts((torch.log1p(c) - self.c_mean) / self.c_std))
        return self.head(torch.cat(parts, -1)).squeeze(-1) * self.y_std + self.y_mean


def pretrain(net: SeqNet, t: np.ndarray, d: np.ndarray, seconds: float, steps: int) -> int:
    gen = torch.Generator().manual_seed(0)
    tokens, depths = torch.from_numpy(t), torch.from_numpy(d)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    started, done = time.monotonic(), 0
    while done < steps and time.monotonic() - started < seconds:
        idx = torch.randint(len(tokens), (64,), generator=gen)
        tt, dd = tokens[idx], depths[idx]
        masked = (torch.rand(tt.shape, generator=gen) < 0.15) & (tt != PAD) & (tt != CLS)
        h, _ = net.hidden(tt.masked_fill(masked, MASK), dd)
        keep = masked[:, :h.shape[1]]
        loss = nn.functional.cross_entropy(net.mlm(h)[keep], tt[:, :h.shape[1]][keep])
        opt.zero_grad()
        loss.backward()
        opt.step()
        done += 1
        if done % 200 == 0:
            print(f"pre-training step {done}: masked-token loss {float(loss):.3f}",
                  file=sys.stderr, flush=True)
    return done


def fit(net: SeqNet, t: np.ndarray, d: np.ndarray, c: np.ndarray | None, y: np.ndarray,
        steps: int, lr: float, seed: int) -> None:
    """The protocol of `model.fit_predictor`: a 20 % validation split, early stopping."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    tokens, depths, target = torch.from_numpy(t), torch.from_numpy(d), torch.from_numpy(y)
    counts = torch.from_numpy(c.astype(np.float32)) if c is not None else None
    if counts is not None:
        logs = torch.log1p(counts)
        net.c_mean.copy_(logs.mean(0))
        net.c_std.copy_(torch.clamp(logs.std(0), min=0.25))
    order = np.random.default_rng(seed + 7).permutation(len(tokens))
    n_val = max(5, len(tokens) // 5) if len(tokens) >= 20 else 0
    val, rows = order[:n_val], order[n_val:]
    net.y_mean.fill_(float(target[rows].mean()))
    net.y_std.fill_(max(float(target[rows].std()), 1e-3))
    params = [p for n, p in net.named_parameters() if not n.startswith("mlm")]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    best, state = math.inf, None

    def run(idx: np.ndarray) -> torch.Tensor:
        return net(tokens[idx], depths[idx], counts[idx] if counts is not None else None)

    net.train()
    for step in range(1, steps + 1):
        idx = rows[torch.randint(len(rows), (min(64, len(rows)),), generator=gen).numpy()]
        loss = nn.functional.smooth_l1_loss((run(idx) - net.y_mean) / net.y_std,
                                            (target[idx] - net.y_mean) / net.y_std, beta=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if n_val and (step % max(10, steps // 30) == 0 or step == steps):
            net.eval()
            with torch.no_grad():
                error = float(torch.mean(torch.abs(run(val) - target[val])))
            net.train()
            if error < best:
                best, state = error, copy.deepcopy(net.state_dict())
    if state is not None:
        net.load_state_dict(state)
    net.eval()


def predict(net: SeqNet, t: np.ndarray, d: np.ndarray, c: np.ndarray | None) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(t), 256):
            counts = torch.from_numpy(c[i:i + 256].astype(np.float32)) if c is not None \
                else None
            out.append(net(torch.from_numpy(t[i:i + 256]), torch.from_numpy(d[i:i + 256]),
                           counts).numpy())
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("/work/perfcache"))
    parser.add_argument("--hybrid", action="store_true")
    parser.add_argument("--sizes", default="100,400,1600")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--tune-lr", type=float, default=5e-4)
    parser.add_argument("--generated", type=int, default=30_000)
    parser.add_argument("--real", type=int, default=50_000)
    parser.add_argument("--pretrain-seconds", type=float, default=1500)
    parser.add_argument("--pretrain-steps", type=int, default=4000)
    parser.add_argument("--labels", type=int, default=5000)
    parser.add_argument("--test", type=int, default=1200)
    args = parser.parse_args()
    torch.set_num_threads(2)
    train = build_labelled_set(args.labels, 0, args.cache)
    test = build_labelled_set(args.test, 1, args.cache)
    train_t, train_d = pack([entry_tokens(s) for s in train.sources])
    test_t, test_d = pack([entry_tokens(s) for s in test.sources])
    counts = train.features.shape[1] if args.hybrid else 0
    torch.manual_seed(0)
    pre = SeqNet(counts)
    un_t, un_d = unlabelled(args.generated, args.real)
    steps = pretrain(pre, un_t, un_d, args.pretrain_seconds, args.pretrain_steps)
    print(f"pre-trained {steps} steps on {len(un_t)} unlabelled functions", file=sys.stderr)
    encoder = {k: v for k, v in pre.state_dict().items()
               if not k.startswith(("head", "counts", "c_", "y_"))}
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        for variant in ("pretrained", "scratch"):
            errors, directions = [], []
            for seed in range(args.seeds):
                idx = np.random.default_rng(seed).choice(len(train_t), min(n, len(train_t)),
                                                         replace=False)
                torch.manual_seed(100 + seed)
                net = SeqNet(counts)
                if variant == "pretrained":
                    net.load_state_dict(encoder, strict=False)
                fit(net, train_t[idx], train_d[idx],
                    train.features[idx] if counts else None, train.log_seconds[idx],
                    args.steps, args.tune_lr if variant == "pretrained" else 1e-3, seed)
                pred = predict(net, test_t, test_d, test.features if counts else None)
                errors.append(float(np.mean(np.abs(pred - test.log_seconds))))
                directions.append(pair_direction_accuracy(pred, test,
                                                          np.arange(len(test_t)))[0])
            rows.append({"labels": n, "variant": variant,
                         "mae_log": round(float(np.mean(errors)), 4),
                         "direction_2x": round(float(np.mean(directions)), 4)})
            print(rows[-1], file=sys.stderr, flush=True)
    print(json.dumps({"hybrid": args.hybrid, "pretrain_steps": steps, "rows": rows},
                     indent=1))


if __name__ == "__main__":
    main()
