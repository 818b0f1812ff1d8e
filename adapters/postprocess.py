"""Turn raw greedy model output into an inline suggestion at the cursor.

A small model writes past what the user wants: the next function, the line above again,
brackets the editor already auto-closed.  Plain text rules (no tokens, no model) let the same
logic stop generation early and tidy the result.  Brackets are counted by a rough scanner that
skips quotes and `#` / `//` comments: exact parsing is not worth it for a rejectable hint.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Mode = Literal["line", "block"]

_OPENERS = "([{"
_CLOSERS = ")]}"
_QUOTES = "\"'`"
# '->' is left out on purpose: in Python, Rust and TypeScript a line ending in
# '->' is an unfinished signature whose natural completion is the type.
_BLOCK_OPENER_ENDINGS = (":", "{", "(", "[", "=>")
_MAX_CONTINUATION_LINES = 6
_TAB_WIDTH = 4
_MAX_OVERLAP = 200  # bounds the quadratic overlap search on pathological long lines


@dataclass(slots=True)
class _Scan:
    """String/comment state, so brackets in literals are not counted.

    Strings end at a newline so one stray quote (a Rust lifetime, say) cannot poison the rest.
    """

    quote: str = ""
    comment: bool = False
    escape: bool = False

    def step(self, text: str, i: int) -> bool:
        """Advance past text[i]; True when it is code (outside strings and comments)."""
        ch = text[i]
        if ch == "\n":
            self.quote, self.comment, self.escape = "", False, False
            return True
        if self.comment:
            return False
        if self.quote:
            escaped, self.escape = self.escape, ch == "\\" and not self.escape
            if ch == self.quote and not escaped:
                self.quote = ""
            return False
        if ch in _QUOTES:
            self.quote = ch
            return False
        if ch == "#" or (ch == "/" and text[i + 1 : i + 2] == "/"):
            self.comment = True
            return False
        return True


def _indent(line: str) -> int:
    """Width of leading whitespace; tabs are expanded so mixed files compare sanely."""
    lead = line[: len(line) - len(line.lstrip(" \t"))]
    return len(lead.expandtabs(_TAB_WIDTH))


def _current_line(prefix: str) -> str:
    return prefix[prefix.rfind("\n") + 1 :]


def _suffix_line(suffix: str) -> str:
    nl = suffix.find("\n")
    return (suffix if nl < 0 else suffix[:nl]).rstrip("\r")


def _prev_nonblank_line(prefix: str) -> str | None:
    """Walk backwards with rfind so per-token calls never split a whole document."""
    end = prefix.rfind("\n")
    while end >= 0:
        start = prefix.rfind("\n", 0, end) + 1
        line = prefix[start:end]
        if line.strip():
            return line
        end = start - 1
    return None


def _next_suffix_line(prefix: str, suffix: str) -> str | None:
    """The full document line the suggestion must not re-type, or None.

    Mid-line, the rest of the cursor line follows the suggestion anyway, so protect the next one.
    """
    cur, rest = _current_line(prefix), _suffix_line(suffix)
    if rest.strip() and not cur.strip():
        return cur + rest
    start = suffix.find("\n") + 1
    while start > 0:
        nl = suffix.find("\n", start)
        line = suffix[start:] if nl < 0 else suffix[start:nl]
        if line.strip():
            return line.rstrip("\r")
        start = nl + 1
    return None


def _strip_comment(line: str) -> str:
    scan = _Scan()
    for i in range(len(line)):
        scan.step(line, i)
        if scan.comment:
            return line[:i].rstrip()
    return line.rstrip()


def _opener_indent(prefix: str) -> int | None:
    """Indent of the block opener the cursor sits after, or None when there is none."""
    cur = _current_line(prefix)
    line = cur if cur.strip() else _prev_nonblank_line(prefix)
    if line is None or not _strip_comment(line).endswith(_BLOCK_OPENER_ENDINGS):
        return None
    return _indent(line)


def _rstrip_index(text: str, end: int) -> int:
    return len(text[:end].rstrip(" \t\r\n"))


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _same_line(a: str, b: str) -> bool:
    """Compare full lines: same content and indent, so nested `end`/`}` pairs differ."""
    sa = a.strip()
    return bool(sa) and sa == b.strip() and _indent(a) == _indent(b)


def decide_mode(prefix: str, suffix: str, multiline: str = "auto") -> Mode:
    """Offer a block only where the user is about to write one: after an opener they want the
    body; mid-line they want the line finished, not code pushed into the middle of it."""
    if multiline == "never":
        return "line"
    if multiline == "always":
        return "block"
    if _suffix_line(suffix).strip():
        return "line"
    return "block" if _opener_indent(prefix) is not None else "line"


def _line_stop(generated: str) -> int | None:
    first_nl = generated.find("\n")
    if first_nl < 0:
        return None
    # A leading newline means the cursor is at a line end: suggest the next line.
    skip = not generated[:first_nl].strip()
    scan, depth, lines = _Scan(), 0, 0
    for i, ch in enumerate(generated):
        code = scan.step(generated, i)
        if ch == "\n":
            if skip:
                skip = False
                continue
            lines += 1
            if depth == 0 or lines >= _MAX_CONTINUATION_LINES:
                return _rstrip_index(generated, i)
        elif code and ch in _OPENERS:
            depth += 1
        elif code and ch in _CLOSERS and depth > 0:
            depth -= 1
    return None


def _block_stop(generated: str, prefix: str) -> int | None:
    first_nl = generated.find("\n")
    if first_nl < 0:
        return None
    threshold = _opener_indent(prefix)
    has_opener = threshold is not None
    if threshold is None:
        # Forced block without an opener: end when code dedents below the cursor line.
        first = _current_line(prefix) + generated[:first_nl]
        if first.strip():
            threshold = _indent(first) - 1
    blank_run, start = 0, first_nl + 1
    while True:
        nl = generated.find("\n", start)
        if nl < 0:
            return None  # only complete lines may end the block
        line = generated[start:nl]
        if not line.strip():
            blank_run += 1
            if blank_run >= 2:
                return _rstrip_index(generated, start)
        else:
            blank_run = 0
            ind = _indent(line)
            if threshold is None:
                threshold = ind - 1
            elif ind <= threshold:
                code = _strip_comment(line).lstrip()
                if not (has_opener and ind == threshold and code[:1] in _CLOSERS):
                    return _rstrip_index(generated, start)
                # A closer at the opener's indent ('}', '})', ')') belongs to the block;
                # '} else {' or '):' reopens it, so keep going.
                if not code.endswith(_BLOCK_OPENER_ENDINGS):
                    return _rstrip_index(generated, nl)
        start = nl + 1


def stop_index(generated: str, prefix: str, suffix: str, mode: Mode) -> int | None:
    """Where the suggestion ends, or None while it may still grow.

    Runs on every token, so it scans only `generated`, the prefix's last lines and the
    suffix's current line.
    """
    if mode == "block":
        return _block_stop(generated, prefix)
    if _suffix_line(suffix).strip():
        # Mid-line: the suggestion is the rest of this line; a newline would split it.
        nl = generated.find("\n")
        return None if nl < 0 else _rstrip_index(generated, nl)
    return _line_stop(generated)


def _cut_repetition(text: str, prefix: str) -> str:
    """Greedy decoding loops; a line equal to the one above it is the usual sign."""
    cur, prev, offset = _current_line(prefix), _prev_nonblank_line(prefix), 0
    for i, seg in enumerate(text.split("\n")):
        full = cur + seg if i == 0 else seg
        # Punctuation-only lines ('}', '));') legitimately repeat.
        repeated = seg.strip() and prev is not None and _same_line(full, prev)
        if repeated and any(c.isalnum() for c in full):
            return text[:offset]
        if full.strip():
            prev = full
        offset += len(seg) + 1
    return text


def _cut_suffix_repeat(text: str, prefix: str, suffix: str) -> str:
    """The model often re-types the code below the cursor; the editor already has it."""
    target = _next_suffix_line(prefix, suffix)
    lines = text.split("\n")
    offset = len(lines[0]) + 1
    for line in lines[1:]:
        if target is not None and _same_line(line, target):
            return text[:offset]
        offset += len(line) + 1
    return text


def _count(text: str, scan: _Scan) -> tuple[int, int]:
    """(closers with nothing to close, openers left open), outside literals."""
    depth = extra = 0
    for i, ch in enumerate(text):
        if not scan.step(text, i):
            continue
        if ch in _OPENERS:
            depth += 1
        elif ch in _CLOSERS:
            depth, extra = (depth - 1, extra) if depth else (0, extra + 1)
    return extra, depth


def _balance_brackets(text: str, prefix: str, suffix: str) -> str:
    """Drop the tail from the first closer that has nothing left to close.

    Closers the suffix already has (auto-closed) use up the prefix's openers: 'x))' + '))' -> 'x'.
    """
    scan = _Scan()
    open_count = _count(_current_line(prefix), scan)[1]
    budget = open_count - min(open_count, _count(_suffix_line(suffix), replace(scan))[0])
    own = 0
    for i, ch in enumerate(text):
        if not scan.step(text, i) or ch not in _OPENERS + _CLOSERS:
            continue
        if ch in _OPENERS:
            own += 1
        elif own:
            own -= 1
        elif budget:
            budget -= 1
        else:
            return text[:i]
    return text


def _imbalance(text: str) -> int:
    """Unmatched brackets plus an unterminated string: lower means better-formed."""
    scan = _Scan()
    extra, depth = _count(text, scan)
    return extra + depth + (1 if scan.quote else 0)


def _trim_suffix_overlap(text: str, prefix: str, suffix: str) -> str:
    """Trim an ending the suffix line already starts with ('foo";' before '";').

    Only when the line ends up no worse balanced, so 'foo()' before ')' keeps its own paren.
    """
    rest = _suffix_line(suffix).rstrip()[:_MAX_OVERLAP]
    if not rest or not text:
        return text
    cur = _current_line(prefix)
    before = _imbalance(cur + text + rest)
    line_start = text.rfind("\n") + 1
    for k in range(min(len(rest), len(text) - line_start), 0, -1):
        if not text.endswith(rest[:k]):
            continue
        cut = len(text) - k
        if cut > 0 and _is_word(rest[0]) and _is_word(text[cut - 1]):
            continue  # would split an identifier
        trimmed = text[:cut]
        if _imbalance(cur + trimmed + rest) <= before:
            return trimmed
    return text


def _rstrip(text: str, keep_space: bool) -> str:
    """Drop trailing blank lines; keep spaces that separate the text from a mid-line suffix."""
    out = text.rstrip()
    if keep_space:
        tail = text[len(out) :]
        out += tail[: len(tail) - len(tail.lstrip(" \t"))]
    return out


def drop_doubled_space(text: str, prefix: str) -> str:
    """After `return ` the model's next token is usually ` text`, space included (that is
    how the tokenizer splits words), which would insert a second space; the space the
    user typed stands for it. Lines that hold only indentation are left alone."""
    line = prefix[prefix.rfind("\n") + 1:]
    if line.strip() and line[-1] in " \t" and text[:1] in (" ", "\t"):
        return text.lstrip(" \t")
    return text


def postprocess(generated: str, prefix: str, suffix: str, mode: Mode) -> str:
    """Return the text to insert at the cursor, '' when nothing is worth showing.

    Every rule only cuts (the end, or a space the user already typed from the start), so a
    wrong rule can lose a suggestion but never invent code.
    """
    text = generated
    end = stop_index(text, prefix, suffix, mode)
    if end is not None:
        text = text[:end]
    text = _cut_repetition(text, prefix)
    text = _cut_suffix_repeat(text, prefix, suffix)
    text = _balance_brackets(text, prefix, suffix)
    rest = _suffix_line(suffix)
    keep_space = bool(rest) and not rest[0].isspace()
    text = _rstrip(text, keep_space)
    text = _rstrip(_trim_suffix_overlap(text, prefix, suffix), keep_space)
    text = drop_doubled_space(text, prefix)
    return text if text.strip() else ""
