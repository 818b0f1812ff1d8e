"""Variants of a base model built here: layers dropped, or weights rounded to few bits.

They give the selector real candidates that differ in quality and in cost without any
download. Dropping a contiguous block of layers cuts per-token compute in proportion;
which block matters a great deal for a model this small. Measured on SmolLM2-135M (loss on
400 tokens of `inspect.py`, base 3.13): dropping 6 layers from the middle gives 4.07, the
6 just before the last (as Gromov et al. 2024 do for large models) 18.3, worse than a
unigram model. So the middle block goes. Rounding weights costs quality in a controlled
way (4 bits: 3.74, 8 bits: 3.13). Each variant is a plain Hugging Face directory written
atomically (temporary directory, then rename), so `adapters.models.load` reads it like any other.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

MARKER = "tailor-derived.json"
_LAYER = re.compile(r"^(model\.layers\.)(\d+)(\..*)$")


def layers_to_keep(total: int, drop: int) -> list[int]:
    """Drop a block of `drop` layers centred in the middle (first and last always stay)."""
    if not 0 <= drop <= total - 2:
        raise ValueError(f"can drop 0..{total - 2} of {total} layers, not {drop}")
    start = max(1, total // 2 - drop // 2)
    start = min(start, total - 1 - drop)
    return [i for i in range(total) if not start <= i < start + drop]


def drop_layers(model: Any, drop: int) -> Any:
    """A new model of the same class with `drop` layers removed (the input is untouched).

    Built from a config with fewer layers and the kept layers' weights renumbered, so
    everything indexed by layer (the KV cache, per-layer config lists) is consistent.
    """
    config = model.config.__class__.from_dict(model.config.to_dict())
    total = config.num_hidden_layers
    keep = layers_to_keep(total, drop)
    config.num_hidden_layers = len(keep)
    if isinstance(getattr(config, "layer_types", None), list):
        config.layer_types = [config.layer_types[i] for i in keep]
    new_index = {old: new for new, old in enumerate(keep)}
    state = {}
    for name, tensor in model.state_dict().items():
        match = _LAYER.match(name)
        if match is None:
            state[name] = tensor
        elif int(match[2]) in new_index:
            state[f"{match[1]}{new_index[int(match[2])]}{match[3]}"] = tensor
    smaller = model.__class__(config)
    smaller.load_state_dict(state, strict=True)
    smaller.eval()
    return smaller


@torch.no_grad()
def quantise_weights(model: Any, bits: int) -> Any:
    """Round every linear layer's weight to `bits` bits, symmetric per output channel, in
    place (embeddings and norms stay). The weights stay float: this is the quality of a
    quantised model, not its speed."""
    if not 2 <= bits <= 16:
        raise ValueError("bits must be within 2..16")
    levels = 2 ** (bits - 1) - 1
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and module is not getattr(
                model, "lm_head", None):
            weight = module.weight
            scale = weight.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / levels
            weight.copy_(torch.round(weight / scale).clamp(-levels, levels) * scale)
    return model


def save_model_dir(model: Any, tokenizer: Any, target: Path, info: dict[str, Any]) -> Path:
    """Save model, tokenizer and a marker into `target`, all or nothing."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / MARKER).write_text(json.dumps({**info, "created": time.time()}, indent=1))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def derive(model: Any, tokenizer: Any, target: Path, *, drop: int = 0,
           bits: int | None = None, base: str = "") -> Path:
    """Build one variant of `model` into `target` (the input model is not changed)."""
    if drop:
        variant = drop_layers(model, drop)
    else:
        variant = model.__class__(model.config.__class__.from_dict(model.config.to_dict()))
        variant.load_state_dict(model.state_dict())
        variant.eval()
    if bits is not None:
        quantise_weights(variant, bits)
    return save_model_dir(variant, tokenizer, target,
                          {"base": base, "drop_layers": drop, "quant_bits": bits})


def build_derived(spec_id: str) -> Path:
    """Build a catalogue's derived spec from its base model (loads the base: seconds)."""
    from adapters.models import load
    from selector.ranking.catalogue import catalogue

    spec = catalogue().get(spec_id)
    if spec.kind != "derived" or spec.base is None or spec.directory is None:
        raise ValueError(f"{spec_id} is not a derived model")
    loaded = load(spec.base)
    return derive(loaded.model, loaded.tokenizer, spec.directory, drop=spec.drop_layers,
                  bits=spec.quant_bits, base=spec.base)
