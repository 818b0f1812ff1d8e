"""Build the completion prompt: repository context, the file's path, the text before the cursor.

SmolLM2 was trained on repositories laid out as `<repo_name>name<file_sep>path\\ncode...`,
so the prompt uses that layout: other files of the repository first, the current file
last, ending at the cursor. Everything is cut to a token budget, and every cut is made at
positions that move rarely while the user types (whole lines, at multiples of a step), so
that the next keystroke's prompt shares almost all of its tokens with this one and the
engine only has to feed the new ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

_LINE_STEP = 16  # the prefix is cut at line numbers that are multiples of this
_TOKEN_STEP = 128  # the context budget changes only when the prefix crosses such a step
_CHARS_PER_TOKEN_MAX = 8

Encoder = Callable[[str], list[int]]


@dataclass
class Prompt:
    ids: list[int]
    prefix: str  # the whole text before the cursor (post-processing needs the real context)
    suffix: str
    prefix_used: str  # the end of the prefix that the model saw
    context_digest: str  # identifies everything before the prefix (cache scope)
    context_files: list[str] = field(default_factory=list)


def split_at(text: str, line: int, character: int) -> tuple[str, str]:
    """Split a document at a 0-based (line, character) position, clamped to the text."""
    lines = text.split("\n")
    line = max(0, min(line, len(lines) - 1))
    character = max(0, min(character, len(lines[line])))
    offset = sum(len(s) + 1 for s in lines[:line]) + character
    return text[:offset], text[offset:]


def _tail_lines(text: str, max_tokens: int, encode: Encoder) -> tuple[str, list[int]]:
    """The end of `text` within `max_tokens`, starting at a line whose number is a multiple
    of _LINE_STEP (counted from the start of the text, so the cut point is stable)."""
    if max_tokens <= 0:
        return "", []
    lines = text.split("\n")
    max_chars = max_tokens * _CHARS_PER_TOKEN_MAX
    if len(lines[-1]) >= max_chars:
        # A last line too long for the budget (minified code): never encode all of it.
        piece = lines[-1][-max_chars:]
        return piece, encode(piece)[-max_tokens:]
    first, chars = len(lines) - 1, len(lines[-1])
    while first > 0 and chars + len(lines[first - 1]) + 1 <= max_chars:
        first -= 1
        chars += len(lines[first]) + 1
    first = min(-(-first // _LINE_STEP) * _LINE_STEP, len(lines) - 1)
    while True:
        piece = "\n".join(lines[first:])
        ids = encode(piece)
        if len(ids) <= max_tokens:
            return piece, ids
        if first < len(lines) - 1:
            # Jump by the estimated excess, then to the next stable cut line; past the last
            # such line, drop whole lines one at a time (never skip to an empty tail).
            drop = len(piece) * (len(ids) - max_tokens) / len(ids)
            nxt, dropped = first, 0
            while nxt < len(lines) - 1 and dropped < drop:
                dropped += len(lines[nxt]) + 1
                nxt += 1
            aligned = max(first + _LINE_STEP, -(-nxt // _LINE_STEP) * _LINE_STEP)
            first = aligned if aligned < len(lines) - 1 else first + 1
            continue
        # A last line too long for the budget (minified code): keep its end, in tokens.
        return piece, ids[-max_tokens:]


def _head_lines(text: str, max_tokens: int, encode: Encoder) -> list[int]:
    """The start of `text` within `max_tokens`, cut at the end of a line."""
    if max_tokens <= 0:
        return []
    lines = text[: max_tokens * _CHARS_PER_TOKEN_MAX].split("\n")
    ids = encode("\n".join(lines))
    while len(ids) > max_tokens and len(lines) > 1:
        lines = lines[: max(1, len(lines) * max_tokens // len(ids))]
        ids = encode("\n".join(lines))
    return ids[:max_tokens]


def build_prompt(
    *,
    prefix: str,
    suffix: str,
    path: str,
    repo_name: str,
    context: list[tuple[str, str]],
    max_tokens: int,
    encode: Encoder,
    special: dict[str, int],
    fim_markers: tuple[str, str, str] | None = None,
) -> Prompt:
    """Lay out `<repo_name>repo<file_sep>ctx...<file_sep>path\\nprefix` within `max_tokens`.

    `special` maps SmolLM2's layout markers (`<repo_name>`, `<file_sep>`) to ids; a model
    without them gets the same layout in plain text.
    """
    def marker(name: str) -> list[int]:
        return [special[name]] if name in special else encode(name)

    header = marker("<repo_name>") + encode(repo_name)
    file_header = marker("<file_sep>") + encode(f"{path}\n")
    tail: list[int] = []
    if fim_markers is not None:
        # Fill in the middle, suffix first (as the adapter was trained): the text after the
        # cursor does not change while the user types, so the KV cache still covers it.
        fim_prefix, fim_suffix, fim_middle = fim_markers
        after = _head_lines(suffix, min(max_tokens // 4, 256), encode)
        file_header += marker(fim_suffix) + after + marker(fim_prefix)
        tail = marker(fim_middle)
    fixed = len(header) + len(file_header) + len(tail)
    room = max(16, max_tokens - fixed)
    # The prefix gets at least three quarters of the room; context at most half of it.
    prefix_text, prefix_ids = _tail_lines(prefix, room - (room // 4 if context else 0), encode)
    used = -(-len(prefix_ids) // _TOKEN_STEP) * _TOKEN_STEP
    context_room = min(room // 2, room - used) if context else 0

    context_ids: list[int] = []
    context_files: list[str] = []
    per_file = context_room // max(1, len(context))
    for rel, text in context:
        if context_room - len(context_ids) < 32:
            break
        head = marker("<file_sep>") + encode(f"{rel}\n")
        body = _head_lines(text, min(per_file, context_room - len(context_ids)) - len(head),
                           encode)
        if body:
            context_ids += head + body
            context_files.append(rel)
    before = header + context_ids + file_header
    digest = hashlib.sha256(" ".join(map(str, before)).encode()).hexdigest()
    return Prompt(ids=before + prefix_ids + tail, prefix=prefix, suffix=suffix,
                  prefix_used=prefix_text, context_digest=digest, context_files=context_files)
