"""Initialisation, settings changes and shutdown."""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types

from server.app import TailorServer

log = logging.getLogger(__name__)


def setup(server: TailorServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: TailorServer, params: types.InitializeParams) -> None:
        ls.loop = asyncio.get_running_loop()
        ls.pending_options = params.initialization_options

    @server.feature(types.INITIALIZED)
    def initialized(ls: TailorServer, params: types.InitializedParams) -> None:
        from server import selection
        from server.backend import watch

        ls.apply_settings(ls.pending_options)
        ls.runtime.start_loading(selection.startup_spec(ls), ls.settings.backend)
        ls.background = asyncio.ensure_future(watch(ls))
        selection.start(ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: TailorServer,
                                 params: types.DidChangeConfigurationParams) -> None:
        if params.settings is None:
            return
        from server import selection

        ls.apply_settings(params.settings)
        ls.runtime.start_loading(selection.startup_spec(ls), ls.settings.backend)
        ls.publish_status()
        from server.repair import publish_soon

        for uri in list(ls.workspace.text_documents):
            publish_soon(ls, uri)  # Tailor's diagnostics appear or go with the setting

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: TailorServer, params: None) -> None:
        from server import backend, selection
        from server.training import cancel_all

        cancel_all(ls)
        backend.cancel(ls)
        selection.cancel(ls)
        if ls.background is not None:
            ls.background.cancel()
        ls.runtime.shutdown()
