"""`tailor bench completion`: end-to-end completion latency through the LSP, as ratios to a
naive baseline run in the same process (transformers `generate` on the whole prompt, no
reuse, same number of new tokens). Machines here are shared and noisy, so only same-run
ratios mean anything; nothing here is a test.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types

_DEFAULT_FILES = ("argparse.py", "textwrap.py", "difflib.py", "inspect.py", "typing.py",
                  "tarfile.py", "pathlib.py", "subprocess.py")


def _default_files() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return [stdlib / name for name in _DEFAULT_FILES if (stdlib / name).is_file()]


def pick_cursors(files: list[Path], count: int, min_prefix_chars: int,
                 seed: int = 0) -> list[tuple[Path, int]]:
    """Ends of code lines with a long prefix, spread over the files (deterministic)."""
    rng = random.Random(seed)
    per_file = max(1, -(-count // max(1, len(files))))
    cursors: list[tuple[Path, int]] = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        ends = [i for i in range(min_prefix_chars, len(text)) if text[i] == "\n"
                and text[text.rfind("\n", 0, i) + 1:i].strip()[:1] not in ("", "#", '"')]
        cursors += [(path, i) for i in sorted(rng.sample(ends, min(per_file, len(ends))))]
    return cursors[:count]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _drive_server(cursors: list[tuple[Path, int]], settings: dict[str, Any]
                        ) -> tuple[list[dict[str, Any]], float]:
    from pygls.lsp.client import LanguageClient

    from adapters.paths import models_dir

    # A fresh data directory sharing the converted models: answers cached by an earlier run
    # would measure the cache, not the engine.
    home = Path(tempfile.mkdtemp(prefix="tailor-bench-"))
    models_dir().mkdir(parents=True, exist_ok=True)
    (home / "models").symlink_to(models_dir(), target_is_directory=True)
    client = LanguageClient("tailor-bench", "0")
    await client.start_io(sys.executable, "-m", "server.cli", "--log-level", "warning", "serve",
                          env={**os.environ, "TAILOR_HOME": str(home)})
    caps = types.ClientCapabilities(text_document=types.TextDocumentClientCapabilities(
        inline_completion=types.InlineCompletionClientCapabilities()))
    await client.initialize_async(types.InitializeParams(capabilities=caps,
                                                         initialization_options=settings))
    client.initialized(types.InitializedParams())

    async def status() -> dict[str, Any]:
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="tailor.status", arguments=[{}]))
        return dict(result or {})

    while (await status())["state"] == "loading":
        await asyncio.sleep(0.5)
    version = 0

    def change(uri: str, pos: types.Position, end: types.Position, text: str) -> None:
        nonlocal version
        version += 1
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=pos, end=end), text=text)]))

    async def timed(uri: str, pos: types.Position) -> tuple[float, str, dict[str, Any]]:
        started = time.perf_counter()
        result = await client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri), position=pos,
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
        elapsed = (time.perf_counter() - started) * 1000
        items = result.items if isinstance(result, types.InlineCompletionList) else result or []
        text = items[0].insert_text if items else ""
        return elapsed, text if isinstance(text, str) else text.value, (await status())[
            "lastCompletion"]

    rows: list[dict[str, Any]] = []
    for path, offset in cursors:
        text = path.read_text(encoding="utf-8", errors="replace")
        uri = path.as_uri()
        version += 1
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python",
                                                 version=version, text=text)))
        line = text.count("\n", 0, offset)
        pos = types.Position(line=line, character=offset - (text.rfind("\n", 0, offset) + 1))
        after = types.Position(line=pos.line, character=pos.character + 1)
        row: dict[str, Any] = {"file": path.name, "line": line}
        row["a_ms"], suggestion, row["a"] = await timed(uri, pos)
        if suggestion:
            # (c) type the suggestion's first character (a newline moves to the next line).
            typed_pos = (types.Position(line=pos.line + 1, character=0)
                         if suggestion[0] == "\n" else after)
            change(uri, pos, pos, suggestion[0])
            row["c_ms"], _, row["c"] = await timed(uri, typed_pos)
            change(uri, pos, typed_pos, "")
        typed = "y" if suggestion.startswith("x") else "x"
        change(uri, pos, pos, typed)  # (b) one more character, not the suggestion's
        row["b_ms"], _, row["b"] = await timed(uri, after)
        change(uri, pos, after, "")
        client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        rows.append(row)
    rss = float("nan")
    try:
        import psutil

        server_pid = client._server.pid if client._server else None
        if server_pid:
            rss = psutil.Process(server_pid).memory_info().rss / 2**20
    except Exception:
        pass
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    shutil.rmtree(home, ignore_errors=True)
    return rows, rss


def _baseline(rows: list[dict[str, Any]], cursors: list[tuple[Path, int]], model: str,
              settings: dict[str, Any]) -> None:
    """Time transformers `generate` on the same prompts, with no reuse, in this process."""
    import torch

    from adapters.completion import Completer
    from adapters.engine import Engine
    from adapters.models import load

    loaded = load(model)
    completer = Completer(Engine(loaded.model, loaded.tokenizer), loaded.source.name)
    budget = settings["completion"]["maxPromptTokens"]
    for row, (path, offset) in zip(rows, cursors, strict=True):
        text = path.read_text(encoding="utf-8", errors="replace")
        prompt = completer.prompt(path=path, prefix=text[:offset] + "x", suffix=text[offset:],
                                  open_documents=None, max_tokens=budget)
        ids = torch.tensor([prompt.ids])
        new = max(1, int(row["b"]["timing"]["new_tokens"]))
        with torch.inference_mode():
            for key, count in (("base_ttft_ms", 1), ("base_ms", new)):
                started = time.perf_counter()
                loaded.model.generate(ids, max_new_tokens=count, min_new_tokens=count,
                                      do_sample=False, attention_mask=torch.ones_like(ids))
                row[key] = (time.perf_counter() - started) * 1000


def bench_completion(files: list[str] | None = None, cursors: int = 12,
                     model: str = "smollm2-135m-instruct", prompt_tokens: int = 1500,
                     new_tokens: int = 16) -> dict[str, Any]:
    paths = [Path(f).resolve() for f in files] if files else _default_files()
    chosen = pick_cursors(paths, cursors, min_prefix_chars=prompt_tokens * 5)
    settings = {"model": model, "completion": {"maxPromptTokens": prompt_tokens,
                                               "maxNewTokens": new_tokens,
                                               "timeoutMs": 120_000}}
    print(f"bench: {len(chosen)} cursors in {len(paths)} files, ~{prompt_tokens}-token prompts, "
          f"{new_tokens} new tokens, {os.cpu_count()} cores", file=sys.stderr)
    rows, rss = asyncio.run(_drive_server(chosen, settings))
    _baseline(rows, chosen, model, settings)

    def ttft(row: dict[str, Any]) -> float:
        # The first token comes from the prefill's logits; `decode_ms` is everything after it
        # (the forwards for the later tokens), as the baseline's TTFT is a 1-token generate.
        return float(row["b_ms"] - row["b"]["timing"]["decode_ms"])

    series = {
        "a_new_cursor_ms": [r["a_ms"] for r in rows],
        "b_one_more_char_ms": [r["b_ms"] for r in rows],
        "b_ttft_ms": [ttft(r) for r in rows],
        "c_type_through_ms": [r["c_ms"] for r in rows if "c_ms" in r],
        "baseline_ms": [r["base_ms"] for r in rows],
        "baseline_ttft_ms": [r["base_ttft_ms"] for r in rows],
    }
    summary = {k: {"p50": _pct(v, 0.5), "p95": _pct(v, 0.95), "n": len(v)}
               for k, v in series.items()}
    ratios = {}
    for name, ours, base in (("a_new_cursor", "a_new_cursor_ms", "baseline_ms"),
                             ("b_one_more_char", "b_one_more_char_ms", "baseline_ms"),
                             ("b_ttft", "b_ttft_ms", "baseline_ttft_ms"),
                             ("c_type_through", "c_type_through_ms", "baseline_ms")):
        ratios[name] = {q: summary[base][q] / summary[ours][q] if summary[ours][q] else None
                        for q in ("p50", "p95")}
    prompt = statistics.median(r["b"]["timing"]["prompt_tokens"] for r in rows)
    out = sys.stderr  # stdout is for --json
    print(f"\nmedian prompt tokens {prompt:.0f}; server RSS after the run {rss:.0f} MiB",
          file=out)
    print(f"{'measure':22} {'p50 ms':>10} {'p95 ms':>10}   baseline/ours p50   p95", file=out)
    for name, ours, _ in (("a_new_cursor", "a_new_cursor_ms", 0),
                          ("b_one_more_char", "b_one_more_char_ms", 0),
                          ("b_ttft", "b_ttft_ms", 0), ("c_type_through", "c_type_through_ms", 0)):
        s, r = summary[ours], ratios[name]
        print(f"{name:22} {s['p50']:10.1f} {s['p95']:10.1f}   {r['p50'] or 0:14.1f}x "
              f"{r['p95'] or 0:6.1f}x", file=out)
    for base in ("baseline_ms", "baseline_ttft_ms"):
        print(f"{base:22} {summary[base]['p50']:10.1f} {summary[base]['p95']:10.1f}",
              file=out)
    return {"summary": summary, "ratios": ratios, "rss_mib": rss, "rows": rows,
            "median_prompt_tokens": prompt}
