"""Why the predictor thinks an edit changed a function's runtime: feature-group ablation.

Why ablation over groups: the prediction for an edit is a difference of two outputs,
log(after) - log(before). For each feature group that differs between the two versions
(`features.GROUPS`: loop structure, membership tests on lists, string building, sorting...),
we measure how much of that difference the group carries, in both orders: the drop when the
group is put back to its old values in the new vector, and the rise when its new values are
put into the old vector; their mean is the group's share (the two-ordering Shapley
estimate). All variants go through the predictor in one batch, so this costs one call.
The reasons come from the model's response, not from a rule about what is slow; the text of
each reason then names what changed in the code (the loop's iterable, the container).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from selector.perf.features import GROUPS, INDEX, FunctionFeatures

Predictor = Callable[[np.ndarray], np.ndarray]

_GROUP_IDX = {g: np.array([INDEX[f] for f in feats]) for g, feats in GROUPS.items()}
_DEEP = {g: np.array([INDEX[f] for f in feats if not f.endswith("_d0")])
         for g, feats in GROUPS.items() if g != "nesting"}


@dataclass
class Contribution:
    group: str
    effect: float  # share of log(after / before) carried by this group
    increased: bool  # the group's counts went up (or moved into deeper loops)
    in_loop: bool  # a change inside a loop (depth >= 1)
    moved: bool = False  # same count, different loop depth


def ablate(predict: Predictor, before: np.ndarray, after: np.ndarray,
           ) -> tuple[float, list[Contribution]]:
    """(predicted log ratio, contributions of the changed groups, largest first)."""
    changed = [g for g, idx in _GROUP_IDX.items() if np.any(before[idx] != after[idx])]
    rows = [before, after]
    for g in changed:
        idx = _GROUP_IDX[g]
        back = after.copy()
        back[idx] = before[idx]
        forward = before.copy()
        forward[idx] = after[idx]
        rows += [back, forward]
    out = predict(np.stack(rows).astype(np.float32))
    total = float(out[1] - out[0])
    contributions = []
    for k, g in enumerate(changed):
        effect = 0.5 * ((out[1] - out[2 + 2 * k]) + (out[3 + 2 * k] - out[0]))
        idx = _GROUP_IDX[g]
        count_b, count_a = float(before[idx].sum()), float(after[idx].sum())
        moved = g != "nesting" and count_a == count_b
        if moved:  # compare depth-weighted counts: deeper = more work
            weights = np.arange(1, len(idx) + 1)
            increased = float(after[idx] @ weights) > float(before[idx] @ weights)
        else:
            increased = count_a > count_b
        deep = _DEEP.get(g)
        in_loop = bool(np.any(before[deep] != after[deep])) if deep is not None else True
        contributions.append(Contribution(g, float(effect), increased, in_loop, moved))
    contributions.sort(key=lambda c: -abs(c.effect))
    return total, contributions


_PHRASES: dict[str, tuple[str, str]] = {  # group -> (when added, when removed)
    "member_list": ("membership test on a list{name}{where}",
                    "no membership test on a list{name}{where}"),
    "member_unknown": ("membership test on{name}{where} (not known to be a set)",
                       "no membership test on{name}{where}"),
    "member_hash": ("membership test on a set or dict{name}{where}",
                    "no membership test on a set or dict{name}{where}"),
    "member_str": ("substring test on{name}{where}", "no substring test on{name}{where}"),
    "append": ("appends to{name}{where}", "no appends to{name}{where}"),
    "str_concat": ("string{name} built with `+=`{where}",
                   "string{name} no longer built with `+=`{where}"),
    "list_concat": ("list{name} copied with `+`{where}",
                    "list{name} no longer copied with `+`{where}"),
    "sort": ("sorting{name}{where}", "no sorting{name}{where}"),
    "linear": ("linear-time call{name}{where}", "no linear-time call{name}{where}"),
    "front_op": ("insert/pop at the front of list{name}{where}",
                 "no insert/pop at the front of list{name}{where}"),
    "join": ("strings joined with `str.join`{where}", "no `str.join`{where}"),
    "comp": ("comprehension over{name}{where}", "no comprehension over{name}{where}"),
    "regex": ("regular expression call{name}{where}",
              "no regular expression call{name}{where}"),
    "vector": ("vectorised library call{where}", "vectorised library call removed{where}"),
    "recursion": ("recursive call", "recursive call removed"),
}


def _new_items(mine: list[str], theirs: list[str]) -> list[str]:
    fresh = [x for x in mine if x not in theirs]
    return fresh or mine


def _nesting_phrase(before: FunctionFeatures, after: FunctionFeatures, increased: bool) -> str:
    nested_b = before.get("loops_d2") + before.get("loops_d3")
    nested_a = after.get("loops_d2") + after.get("loops_d3")
    depth_b, depth_a = before.get("max_depth"), after.get("max_depth")
    old = before.evidence.get("nesting", [])
    new = after.evidence.get("nesting", [])
    if depth_b == 0 and depth_a > 0:
        items = _new_items(after.evidence.get("loop", []), before.evidence.get("loop", []))
        return f"a new loop over `{items[0]}`" if items else "a new loop"
    if depth_a == 0 and depth_b > 0:
        items = _new_items(before.evidence.get("loop", []), after.evidence.get("loop", []))
        return f"no more loop over `{items[0]}`" if items else "no more loops"
    if depth_a > depth_b or nested_a > nested_b:
        items = _new_items(new, old)
        return f"a loop now nests over `{items[0]}`" if items else "loops now nest deeper"
    if depth_a < depth_b or nested_a < nested_b:
        items = _new_items(old, new)
        return f"a loop no longer nests over `{items[0]}`" if items else "loops nest less deep"
    lit_b, lit_a = before.get("literal_trip_log"), after.get("literal_trip_log")
    if lit_a != lit_b:
        return "loops over literal ranges run more iterations" if lit_a > lit_b else \
            "loops over literal ranges run fewer iterations"
    if after.get("loops") != before.get("loops"):
        return "more loops" if after.get("loops") > before.get("loops") else "fewer loops"
    return "more work inside loops" if increased else "less work inside loops"


def _name(c: Contribution, before: FunctionFeatures, after: FunctionFeatures) -> str:
    """What the operation works on (" `seen`"), from the side that has more of it."""
    key = c.group if c.in_loop else f"{c.group}@0"
    mine = (after if c.increased else before).evidence.get(key, [])
    theirs = (before if c.increased else after).evidence.get(key, [])
    items = _new_items(mine, theirs)
    return f" `{items[0]}`" if items else ""


def reason_text(c: Contribution, before: FunctionFeatures, after: FunctionFeatures) -> str:
    """A short human reason for one contribution."""
    if c.group == "nesting":
        return _nesting_phrase(before, after, c.increased)
    added, removed = _PHRASES[c.group]
    name = _name(c, before, after)
    if not name and c.group in ("member_unknown", "member_str", "append", "comp"):
        name = " a container"
    if c.moved:  # the same operation, now in a deeper (or shallower) loop
        deeper = "now in a more deeply nested loop" if c.increased else "now in a shallower loop"
        return added.format(name=name, where="") + f" {deeper}"
    where = " inside a loop" if c.in_loop else ""
    return (added if c.increased else removed).format(name=name, where=where)


def reasons(total: float, contributions: list[Contribution], before: FunctionFeatures,
            after: FunctionFeatures, limit: int = 3, share: float = 0.15) -> list[str]:
    """Reasons for the predicted direction, strongest first: groups that push the same way
    as the total and carry at least `share` of it."""
    if total == 0:
        return []
    picked = [c for c in contributions
              if c.effect * total > 0 and abs(c.effect) >= share * abs(total)]
    dropped, was = _container_swaps(picked, before, after)
    texts: list[str] = []
    for i, c in enumerate(picked):
        if i in dropped:
            continue
        text = reason_text(c, before, after) + (f" (was {was[i]})" if i in was else "")
        if text not in texts:
            texts.append(text)
        if len(texts) >= limit:
            break
    return texts


# A membership test that moved from one container kind to the other is one change, not two
# ("on a list `seen`" and "no membership test on a set `seen`"): one reason, for the kind
# added, that says what it was.
_SWAPPED = {"member_list": "member_hash", "member_hash": "member_list"}
_KIND = {"member_list": "a list", "member_hash": "a set or dict"}


def _container_swaps(picked: list[Contribution], before: FunctionFeatures,
                     after: FunctionFeatures) -> tuple[set[int], dict[int, str]]:
    """(indices of the removed halves of container swaps on the same name, to drop;
    index of each added half -> the kind it replaced)."""
    added = {(c.group, _name(c, before, after)): i for i, c in enumerate(picked)
             if c.group in _SWAPPED and c.increased}
    dropped: set[int] = set()
    was: dict[int, str] = {}
    for i, c in enumerate(picked):
        name = _name(c, before, after)
        partner = added.get((_SWAPPED.get(c.group, ""), name))
        if not c.increased and name and partner is not None:
            dropped.add(i)
            was[partner] = _KIND[c.group]
    return dropped, was
