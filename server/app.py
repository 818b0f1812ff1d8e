"""The one server class and its assembly from feature modules."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from adapters.paths import data_dir
from server import __version__
from server.protocol import TailorProtocol
from server.runtime import Runtime
from server.settings import Settings, parse_settings

log = logging.getLogger(__name__)


class TailorServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("tailor", __version__, protocol_cls=TailorProtocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.settings = Settings()
        self.runtime = Runtime(on_change=self.publish_status, on_error=self._model_error,
                               on_notice=self._notice)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.shown = 0
        self.accepted = 0
        self.last_completion: dict[str, Any] | None = None
        self.pending_options: Any = None  # initializationOptions, applied on `initialized`
        self.jobs: dict[str, Any] = {}  # training jobs by id (server.training.Job)
        self.commit_writer: Any = None  # adapters.commit_message.CommitWriter, made on use
        self.repair_state: Any = None  # server.repair.RepairState, made on use
        self.export_job: Any = None  # server.backend.ExportJob, the latest export
        self.document_listeners: Any = None  # server.documents: event -> listeners
        self.diagnostic_parts: Any = None  # server.diagnostics: uri -> part -> diagnostics
        self.perf_state: Any = None  # server.perf.PerfState, made on use
        self.background: asyncio.Future[None] | None = None  # server.backend.watch
        self.selection: Any = None  # server.selection.Selection, made on use

    def apply_settings(self, data: Any) -> None:
        """Parse and apply settings; report bad values; (re)load the model if it changed."""
        settings, errors = parse_settings(data)
        self.settings = settings
        self.runtime.max_loaded = settings.adapters.max_loaded
        logging.getLogger().setLevel(settings.log_level.upper())
        for error in errors:
            self.notify_user(error, types.MessageType.Warning)

    def notify_user(self, message: str, kind: types.MessageType) -> None:
        if kind <= types.MessageType.Warning:
            log.warning("%s", message)
        else:
            log.info("%s", message)
        self.window_show_message(types.ShowMessageParams(type=kind, message=f"Tailor: {message}"))

    def _model_error(self, message: str) -> None:
        """Called on the inference thread when the model cannot be loaded."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(
                self.notify_user, f"{message} Completions are off until this is fixed; "
                "`tailor doctor` checks the installation.", types.MessageType.Error)

    def _notice(self, message: str) -> None:
        """A warning from the inference thread (e.g. an unusable adapter)."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.notify_user, message,
                                           types.MessageType.Warning)
            self.publish_status()

    def status(self) -> dict[str, Any]:
        from server import selection

        runtime = self.runtime
        loaded = runtime.loaded
        choice = runtime.selector.last if runtime.selector else None
        backend = runtime.backend
        return {
            "model": selection.current_model(self),
            "configuredModel": self.settings.model,
            "backend": backend.name if backend else None,
            "backendReason": backend.reason if backend else None,
            "backendVariant": backend.variant if backend else None,
            "export": self.export_job.to_dict() if self.export_job else None,
            "adapter": choice.key if choice else None,
            "adapterState": choice.state if choice else "none",
            "jobs": [job.to_dict() for job in self.jobs.values()],
            "ranking": selection.status(self),
            "state": runtime.state,
            "error": runtime.error,
            "modelPath": loaded.path if loaded else None,
            "loadSeconds": round(loaded.load_seconds, 2) if loaded else None,
            "dataDir": str(data_dir()),
            "shown": self.shown,
            "accepted": self.accepted,
            "lastCompletion": self.last_completion,
        }

    def publish_status(self) -> None:
        """Send `tailor/status`; safe to call from any thread."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return

        def send() -> None:
            try:
                self.protocol.notify("tailor/status", self.status())
            except Exception:  # the client may be gone; status is best effort
                log.debug("could not send tailor/status", exc_info=True)

        loop.call_soon_threadsafe(send)


def create_server() -> TailorServer:
    from server import (
        commit,
        completion,
        documents,
        lifecycle,
        perf,
        repair,
        selection,
        status,
        training,
    )

    server = TailorServer()
    documents.setup(server)
    lifecycle.setup(server)
    completion.setup(server)
    commit.setup(server)
    repair.setup(server)
    perf.setup(server)
    status.setup(server)
    selection.setup(server)
    training.setup(server)
    return server
