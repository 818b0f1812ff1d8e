"""A diff that fits a prompt: the file list first, then whole hunks by priority.

A commit message is written from what changed, and a long diff cut at its first N tokens
shows the model the first file only. So the packed diff always lists every file with its
added/removed counts, gives every file it may show at least its header, and fills the rest
of the budget with whole hunks (a hunk cut in the middle reads as a different change):
source before docs and config, those before data, lock and generated files; within that,
hunks that add or remove a definition before hunks that only edit inside one. The same
packing builds the training pairs (measured in characters there, in tokens at inference),
so an adapter learns from prompts laid out like the ones it will see.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from adapters.dataset_history import DiffSection, section_skip_reason
from adapters.repo_context import language_of

DATA_SUFFIXES = frozenset({".csv", ".tsv", ".json", ".jsonl", ".xml", ".svg", ".ipynb",
                           ".parquet", ".sql", ".dat", ".txt", ".log", ".snap", ".po"})
_DEFINITION = re.compile(
    r"^[+-]\s*(?:export\s+(?:default\s+)?)?(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?"
    r"(?:def|class|function|fn|func|struct|enum|interface|trait|impl|type|module|macro|"
    r"const\s+\w+\s*=\s*(?:async\s*)?\(|let\s+\w+\s*=\s*(?:async\s*)?\()\b")
_HEADER_KEEP = ("diff --git ", "new file mode", "deleted file mode", "rename from ",
                "rename to ", "copy from ", "copy to ", "--- ", "+++ ", "old mode", "new mode")

Cost = Callable[[str], int]


@dataclass
class Hunk:
    file: int
    index: int
    lines: list[str]
    added: int = 0
    removed: int = 0
    defines: bool = False


@dataclass
class FileChange:
    path: str
    status: str  # A, D, M, R
    added: int
    removed: int
    header: list[str]
    hunks: list[Hunk]
    tier: int  # 0 source, 1 docs and config, 2 data and generated
    skipped: str | None  # why its text must not be shown (None: it may)
    old_path: str | None = None


@dataclass
class PackedDiff:
    text: str
    files: list[FileChange]
    hunks_shown: int = 0
    hunks_total: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def complete(self) -> bool:
        return self.hunks_shown == self.hunks_total


def _tier(path: str) -> int:
    if language_of(Path(path)) is not None:
        return 0
    return 2 if Path(path).suffix.lower() in DATA_SUFFIXES else 1


def split_section(section: DiffSection, number: int, skipped_paths: set[str]) -> FileChange:
    """One file of a diff as its header lines and hunks."""
    path = section.new_path or (section.paths[-1] if section.paths else "?")
    if section.deleted and section.old_path:
        path = section.old_path
    status = ("A" if section.new_file else "D" if section.deleted
              else "R" if section.old_path and section.old_path != section.new_path else "M")
    skipped = section_skip_reason(section, skipped_paths)
    header: list[str] = []
    hunks: list[Hunk] = []
    for line in section.lines:
        if line.startswith("@@"):
            hunks.append(Hunk(number, len(hunks), [line]))
        elif hunks:
            hunk = hunks[-1]
            hunk.lines.append(line)
            if line.startswith("+"):
                hunk.added += 1
            elif line.startswith("-"):
                hunk.removed += 1
            if _DEFINITION.match(line):
                hunk.defines = True
        elif line.startswith(_HEADER_KEEP):
            header.append(line)
    if len("\n".join(section.lines)) < section.chars - 1 and hunks:
        hunks.pop()  # the section was capped while reading: its last hunk is cut short
    return FileChange(path=path, status=status, added=section.added, removed=section.removed,
                      header=header, hunks=[] if skipped else hunks, tier=_tier(path),
                      skipped=skipped, old_path=section.old_path if status == "R" else None)


def file_list(files: list[FileChange]) -> list[str]:
    added = sum(f.added for f in files)
    removed = sum(f.removed for f in files)
    lines = [f"{len(files)} file{'s' if len(files) != 1 else ''} changed, +{added} -{removed}"]
    for f in files:
        name = f"{f.old_path} -> {f.path}" if f.old_path else f.path
        note = f", {f.skipped}: not shown" if f.skipped else ""
        lines.append(f" {f.status} {name} (+{f.added} -{f.removed}{note})")
    return lines


def pack_diff(sections: list[DiffSection], budget: int, cost: Cost = len,
              skipped_paths: set[str] | None = None) -> PackedDiff:
    """The diff laid out for a prompt within `budget` (as measured by `cost`)."""
    files = [split_section(s, i, skipped_paths or set()) for i, s in enumerate(sections)]
    skipped: Counter[str] = Counter(f.skipped for f in files if f.skipped)
    listing = file_list(files)
    left = budget
    # The list itself shrinks (a summary line for the rest) when it alone is too long.
    shown_list: list[str] = []
    for i, line in enumerate(listing):
        need = cost(line + "\n")
        rest = len(listing) - i - 1
        if i > 0 and rest and left - need < cost(f" ... {rest} more files\n") + 1:
            shown_list.append(f" ... {len(listing) - i} more files")
            left -= cost(shown_list[-1] + "\n")
            break
        shown_list.append(line)
        left -= need
    left -= 1  # the blank line after the list
    # Every file that may be shown gets its header, most useful tiers first, with room for
    # the line that counts its hunks left out.
    marker = cost("# 99 hunks not shown (+999 -999)\n")
    with_header: set[int] = set()
    for number, f in sorted(enumerate(files), key=lambda item: item[1].tier):
        if f.skipped:
            continue
        need = cost("\n".join(f.header) + "\n") if f.header else 0
        need += marker if f.hunks else 0
        if need <= left:
            with_header.add(number)
            left -= need
    # Then whole hunks by priority; a hunk that does not fit is left out, never cut.
    chosen: set[tuple[int, int]] = set()
    candidates = [h for f in files for h in f.hunks if h.file in with_header]
    for hunk in sorted(candidates, key=lambda h: (files[h.file].tier, not h.defines, h.file,
                                                  h.index)):
        text = "\n".join(hunk.lines) + "\n"
        if len(text) > left * 8:  # cheaper than measuring: it cannot fit
            continue
        need = cost(text)
        if need <= left:
            chosen.add((hunk.file, hunk.index))
            left -= need
    out = [*shown_list, ""]
    total = sum(len(f.hunks) for f in files)
    for number, f in enumerate(files):
        if number not in with_header:
            continue
        out.extend(f.header)
        missing = [h for h in f.hunks if (h.file, h.index) not in chosen]
        for hunk in f.hunks:
            if (hunk.file, hunk.index) in chosen:
                out.extend(hunk.lines)
        if missing:
            out.append(f"# {len(missing)} hunk{'s' if len(missing) != 1 else ''} not shown "
                       f"(+{sum(h.added for h in missing)} -{sum(h.removed for h in missing)})")
    return PackedDiff(text="\n".join(out).rstrip("\n"), files=files, hunks_shown=len(chosen),
                      hunks_total=total, skipped=skipped)
