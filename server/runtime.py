"""The model behind the server: loaded in the background, used by one inference thread.

Model work blocks for hundreds of milliseconds, so it never runs on the event loop. One
worker thread owns the engine (its KV cache is per engine, and two generations at once would
only halve each other's speed). A newer request for the same document supersedes the older
one: its cancellation flag is set, and the engine stops at the next token or prefill chunk.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from adapters.active import AdapterSelector
from adapters.backends import Backend, choose, onnx_backend
from adapters.cache import CompletionCache
from adapters.completion import Completer
from adapters.models import LoadedModel, ModelError, load
from adapters.paths import cache_dir
from adapters.store import AdapterStore

log = logging.getLogger(__name__)
T = TypeVar("T")


class Runtime:
    def __init__(self, on_change: Callable[[], None] = lambda: None,
                 on_error: Callable[[str], None] = lambda message: None,
                 on_notice: Callable[[str], None] = lambda message: None) -> None:
        self.on_change = on_change
        self.on_error = on_error
        self.on_notice = on_notice
        self.max_loaded = 4
        self.selector: AdapterSelector | None = None
        self.state = "idle"  # idle -> loading -> ready | error
        self.error: str | None = None
        self.spec: str | None = None
        self.backend_setting = "auto"
        self.backend: Backend | None = None
        self.last_request = time.monotonic()
        self.loaded: LoadedModel | None = None
        self.completer: Completer | None = None
        self._ready = threading.Event()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tailor-infer")
        self._loader: Future[None] | None = None
        self._pending: dict[str, threading.Event] = {}

    def start_loading(self, spec: str, backend: str = "auto") -> None:
        """Load `spec` on the inference thread; requests queue behind it."""
        if spec == self.spec and backend == self.backend_setting and \
                self.state in ("loading", "ready"):
            return
        self.spec, self.backend_setting = spec, backend
        self.state, self.error = "loading", None
        self._ready.clear()
        self.on_change()
        self._loader = self._worker.submit(self._load, spec)

    def _load(self, spec: str) -> None:
        started = time.perf_counter()
        try:
            loaded = load(spec)
            backend = choose(self.backend_setting, loaded, self.max_loaded)
            engine = backend.engine
            # The first forward pass pays one-off costs (allocator, kernels); pay them now.
            engine.generate(engine.encode("def main():\n"), max_new_tokens=2)
            engine.reset()
            try:
                cache = CompletionCache(cache_dir() / "completions")
            except Exception as exc:  # an unusable cache is not a reason to stop
                log.warning("completion cache disabled: %s", exc)
                cache = CompletionCache(None)
            self.completer = Completer(engine, loaded.source.name, cache)
            self.selector = AdapterSelector(
                AdapterStore(), backend.slots, self.completer,
                loaded.source.name, on_problem=self.on_notice)
            self.loaded, self.backend = loaded, backend
            self.state = "ready"
            log.info("model %s ready in %.1fs from %s on %s (%s)", spec,
                     time.perf_counter() - started, loaded.path, backend.name, backend.reason)
            if backend.problem:
                self.on_notice(backend.problem)
        except ModelError as exc:
            self.state, self.error = "error", str(exc)
            log.error("model %s failed to load: %s", spec, exc)
        except Exception as exc:
            self.state, self.error = "error", f"Could not load model {spec!r}: {exc}"
            log.exception("model %s failed to load", spec)
        finally:
            self._ready.set()
            self.on_change()
            if self.error:
                self.on_error(self.error)

    def _switch_to_onnx(self) -> str:
        """On the inference thread, between requests: the engine and adapter slots change
        under the completer and selector; everything above them is unaware."""
        if self.loaded is None or self.completer is None or self.selector is None:
            return "no model is loaded"
        try:
            backend = onnx_backend(self.loaded, self.max_loaded)
        except Exception as exc:
            log.exception("the new onnxruntime export does not run")
            return self.export_failed(f"the new onnxruntime export does not run ({exc}); "
                                      "PyTorch keeps running")
        self.completer.engine = backend.engine
        self.selector.slots = backend.slots
        self.selector.invalidate()
        self.backend = backend
        self.on_change()
        log.info("switched to onnxruntime: %s", backend.reason)
        return f"now running on onnxruntime ({backend.reason})"

    async def switch_to_onnx(self) -> str:
        future = self._worker.submit(self._switch_to_onnx)
        return await asyncio.wrap_future(future)

    def export_failed(self, summary: str) -> str:
        if self.backend is not None:
            self.backend.wants_export = False
            self.backend.reason = summary
        self.on_change()
        return summary

    async def wait_loaded(self) -> bool:
        """Wait (without blocking the loop) until loading ends; True if a model is ready."""
        if not self._ready.is_set():
            await asyncio.get_running_loop().run_in_executor(None, self._ready.wait)
        return self.state == "ready"

    async def run(self, key: str, job: Callable[[threading.Event], T]) -> T:
        """Run `job(cancel)` on the inference thread, superseding the previous job for `key`.

        If the awaiting task is cancelled ($/cancelRequest), the flag is set so the job
        stops at its next check, and the cancellation propagates to the caller.
        """
        self.last_request = time.monotonic()
        previous = self._pending.get(key)
        if previous is not None:
            previous.set()
        cancel = threading.Event()
        self._pending[key] = cancel
        try:
            future = self._worker.submit(job, cancel)
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            cancel.set()
            raise
        finally:
            if self._pending.get(key) is cancel:
                del self._pending[key]

    def shutdown(self) -> None:
        for event in self._pending.values():
            event.set()
        self._worker.shutdown(wait=False, cancel_futures=True)
