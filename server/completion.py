"""Inline completion (`textDocument/inlineCompletion`) and its fallback for clients without
it (`textDocument/completion`). Handlers only translate between LSP and
`adapters.completion.Completer`; every request gets an answer, empty when nothing fits.
"""

from __future__ import annotations

import itertools
import logging
import threading
from pathlib import Path

from lsprotocol import types
from pygls.uris import to_fs_path

from adapters.completion import CompletionOptions, CompletionResult
from server.app import TailorServer
from server.commit import is_commit_buffer, suggest_in_commit_buffer
from server.selection import record_shown

log = logging.getLogger(__name__)
_ids = itertools.count(1)


def _options(ls: TailorServer) -> CompletionOptions:
    c = ls.settings.completion
    return CompletionOptions(max_prompt_tokens=c.max_prompt_tokens,
                             max_new_tokens=c.max_new_tokens, multiline=c.multiline,
                             timeout_ms=c.timeout_ms)


async def suggest(ls: TailorServer, uri: str, position: types.Position) -> CompletionResult | None:
    """The suggestion at a position, or None when there is nothing to offer (not an error)."""
    if not ls.settings.completion.enable:
        return None
    document = ls.workspace.text_documents.get(uri)
    if document is None:
        log.info("completion for a document that is not open: %s", uri)
        return None
    fs_path = to_fs_path(uri)
    if fs_path is None:
        return None
    source = document.source
    if "\0" in source:  # binary content: nothing sensible to complete
        return None
    offset = document.offset_at_position(position)
    prefix, suffix = source[:offset], source[offset:]
    path = Path(fs_path)
    if is_commit_buffer(path, document.language_id):
        return await suggest_in_commit_buffer(ls, uri, path, source, offset)
    if not await ls.runtime.wait_loaded() or ls.runtime.completer is None:
        return None
    completer = ls.runtime.completer
    open_docs: dict[Path, str] = {}
    for other_uri, doc in list(ls.workspace.text_documents.items()):
        other = to_fs_path(other_uri)
        if other and other_uri != uri and "\0" not in doc.source:
            open_docs[Path(other)] = doc.source
    options = _options(ls)
    selector = ls.runtime.selector
    use_adapters = ls.settings.adapters.enable

    def job(cancel: threading.Event) -> CompletionResult:
        if selector is not None:
            before = selector.last
            if selector.select(path, use_adapters) != before:
                ls.publish_status()
        return completer.complete(path=path, prefix=prefix, suffix=suffix,
                                  language_id=document.language_id, open_documents=open_docs,
                                  options=options, cancel=cancel)

    result = await ls.runtime.run(uri, job)
    ls.last_completion = {"uri": uri, "line": position.line, "character": position.character,
                          "finish": result.finish, "cached": result.cached, "mode": result.mode,
                          "chars": len(result.text), "timing": result.timing.to_dict()}
    log.debug("completion %s:%s:%s -> %r (%s, %s)", path.name, position.line,
              position.character, result.text, result.finish, result.timing.to_dict())
    return result if result.text else None


def setup(server: TailorServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: TailorServer, params: types.InlineCompletionParams
                                ) -> types.InlineCompletionList:
        result = await suggest(ls, params.text_document.uri, params.position)
        if result is None:
            return types.InlineCompletionList(items=[])
        item_id = f"c{next(_ids)}"
        ls.shown += 1
        fs_path = to_fs_path(params.text_document.uri)
        if fs_path is not None:
            record_shown(ls, item_id, Path(fs_path))
        here = types.Range(start=params.position, end=params.position)
        return types.InlineCompletionList(items=[types.InlineCompletionItem(
            insert_text=result.text, range=here,
            command=types.Command(title="Tailor: suggestion accepted", command="tailor.accepted",
                                  arguments=[{"id": item_id, "acceptedChars": len(result.text)}]),
        )])

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions())
    async def completion(ls: TailorServer, params: types.CompletionParams
                         ) -> types.CompletionList:
        # Clients with inline completion get ghost text; a popup item too would be noise.
        caps = ls.client_capabilities.text_document
        if caps is not None and caps.inline_completion is not None:
            return types.CompletionList(is_incomplete=False, items=[])
        result = await suggest(ls, params.text_document.uri, params.position)
        if result is None:
            return types.CompletionList(is_incomplete=True, items=[])
        first = result.text.strip().split("\n", 1)[0]
        here = types.Range(start=params.position, end=params.position)
        item = types.CompletionItem(
            label=first[:60] or result.text[:60], kind=types.CompletionItemKind.Text,
            detail="Tailor", sort_text="0", filter_text=first,
            text_edit=types.TextEdit(range=here, new_text=result.text),
            command=types.Command(title="Tailor: suggestion accepted", command="tailor.accepted",
                                  arguments=[{"id": f"c{next(_ids)}"}]))
        return types.CompletionList(is_incomplete=True, items=[item])
