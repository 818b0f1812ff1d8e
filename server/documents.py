"""Document events, dispatched to every feature that cares.

LSP has one `didOpen`/`didChange`/`didSave`/`didClose` notification each, and pygls takes one
handler per method; repair's diagnostics and the performance hints both need them. Features
register listeners here instead; one failing listener is logged and the others still run
(the server never dies because one feature failed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from lsprotocol import types

from server.app import TailorServer

log = logging.getLogger(__name__)

Listener = Callable[[TailorServer, Any], None]
_EVENTS = ("open", "change", "save", "close")


def listeners(server: TailorServer) -> dict[str, list[Listener]]:
    if not isinstance(server.document_listeners, dict):
        server.document_listeners = {event: [] for event in _EVENTS}
    return server.document_listeners


def on(server: TailorServer, event: str, listener: Listener) -> None:
    if event not in _EVENTS:
        raise ValueError(f"unknown document event {event!r}")
    listeners(server)[event].append(listener)


def _dispatch(ls: TailorServer, event: str, params: Any) -> None:
    for listener in listeners(ls)[event]:
        try:
            listener(ls, params)
        except Exception:
            log.exception("%s listener %s failed", event, getattr(listener, "__name__", "?"))


def setup(server: TailorServer) -> None:
    listeners(server)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: TailorServer, params: types.DidOpenTextDocumentParams) -> None:
        _dispatch(ls, "open", params)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: TailorServer, params: types.DidChangeTextDocumentParams) -> None:
        _dispatch(ls, "change", params)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE,
                    types.SaveOptions(include_text=True))
    def did_save(ls: TailorServer, params: types.DidSaveTextDocumentParams) -> None:
        _dispatch(ls, "save", params)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: TailorServer, params: types.DidCloseTextDocumentParams) -> None:
        _dispatch(ls, "close", params)
