"""One LoRA recipe for every repository, and adapter directories that are saved atomically.

Every adapter has the same rank, alpha and target modules and holds only A/B matrices (no
trained embeddings, no `modules_to_save`), so that any adapter fits a slot already loaded
in the server's model, an onnxruntime graph with LoRA inputs, or a vLLM multi-LoRA server.
Everything goes through peft's own API; this module only fixes the recipe and makes the
writes crash-safe.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from peft import LoraConfig, PeftModel

# The one recipe. peft itself is imported only where an adapter is built or loaded: it
# costs about 100 MB of resident memory, which a server without adapters should not pay.
RECIPE_FIELDS: dict[str, Any] = {
    "r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                       "down_proj"],
    "bias": "none",
    "task_type": "CAUSAL_LM",
}

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
METADATA_FILE = "metadata.json"


def recipe() -> LoraConfig:
    """A private copy of the recipe: peft writes into the config it is given."""
    from peft import LoraConfig

    return LoraConfig(**copy.deepcopy(RECIPE_FIELDS))


def recipe_summary() -> dict[str, Any]:
    """The recipe's fields that decide whether an adapter fits a slot (kept in metadata)."""
    return {"r": RECIPE_FIELDS["r"], "lora_alpha": RECIPE_FIELDS["lora_alpha"],
            "lora_dropout": RECIPE_FIELDS["lora_dropout"],
            "target_modules": sorted(RECIPE_FIELDS["target_modules"]),
            "bias": RECIPE_FIELDS["bias"]}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """peft still asks transformers a deprecated question; its warning is noise to users."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing",
                                category=FutureWarning)
        yield


def attach(model: Any, adapter_name: str = "default") -> PeftModel:
    """Wrap a base model with a fresh, zero-effect adapter (LoRA B starts at zero).

    peft injects the LoRA layers into `model` in place, so the same base weights serve
    the adapter and, under `disable_adapter()`, the base model.
    """
    from peft import get_peft_model

    training = model.training
    with _quiet():
        peft_model = get_peft_model(model, recipe(), adapter_name=adapter_name)
    peft_model.train(training)  # the new LoRA dropout layers start in training mode
    return peft_model


def load(model: Any, directory: Path, adapter_name: str) -> PeftModel:
    """Load a saved adapter into `model` under `adapter_name` and make it the active one.

    The first adapter turns a plain model into a `PeftModel`; later ones are added to it as
    further slots (`load_adapter`), so switching is `set_adapter`, not a disk read. Loaded
    adapters are frozen and in inference mode.
    """
    from peft import PeftModel

    if isinstance(model, PeftModel):
        model.load_adapter(str(directory), adapter_name=adapter_name)
        model.set_adapter(adapter_name)
        return model
    with _quiet():
        return PeftModel.from_pretrained(model, str(directory), adapter_name=adapter_name)


def lora_tensor_names(directory: Path) -> list[str]:
    """Names of the tensors in a saved adapter (reads the safetensors header only)."""
    from safetensors import safe_open

    with safe_open(str(directory / WEIGHTS_FILE), framework="pt") as handle:
        return list(handle.keys())


def _non_lora(names: list[str]) -> list[str]:
    return [n for n in names if ".lora_A." not in n and ".lora_B." not in n]


def save_adapter(peft_model: PeftModel, directory: Path, metadata: dict[str, Any]) -> Path:
    """Save the active adapter and its metadata into `directory`, all or nothing.

    Everything is written into a hidden temporary directory next to the target and renamed
    into place at the end, so a crash at any point leaves either the old directory or the new
    one, never a half-written adapter under the real name. The saved tensors are checked to
    be LoRA A/B matrices only before the rename.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        name = peft_model.active_adapter
        peft_model.save_pretrained(str(tmp), selected_adapters=[name],
                                   save_embedding_layers=False)
        saved = tmp if name == "default" else tmp / name  # peft nests non-default names
        extra = _non_lora(lora_tensor_names(saved))
        if extra:
            raise ValueError(f"adapter has tensors other than LoRA A/B: {extra[:5]}")
        full = {**metadata, "recipe": recipe_summary()}
        (saved / METADATA_FILE).write_text(json.dumps(full, indent=2, sort_keys=True))
        if saved != tmp:
            for item in saved.iterdir():
                os.replace(item, tmp / item.name)
            saved.rmdir()
        _swap_into_place(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _swap_into_place(tmp: Path, directory: Path) -> None:
    """Rename `tmp` to `directory`; an existing one is moved aside first, then deleted."""
    if not directory.exists():
        os.replace(tmp, directory)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{directory.name}-old-", dir=directory.parent))
    os.replace(directory, old / "x")
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


def read_metadata(directory: Path) -> dict[str, Any]:
    data = json.loads((Path(directory) / METADATA_FILE).read_text())
    if not isinstance(data, dict):
        raise ValueError("metadata.json is not an object")
    return data


def is_valid_adapter(directory: Path) -> tuple[bool, str | None]:
    """Whether `directory` holds a complete adapter of the recipe, and if not, why.

    Cheap enough for listing many adapters: it reads the configs and the safetensors
    header, not the weights.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return False, "not a directory"
    for required in (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE):
        if not (directory / required).is_file():
            return False, f"{required} is missing"
    try:
        config = json.loads((directory / CONFIG_FILE).read_text())
        read_metadata(directory)
    except (OSError, ValueError) as exc:
        return False, f"unreadable config or metadata: {exc}"
    if not isinstance(config, dict) or config.get("peft_type") != "LORA":
        return False, "adapter_config.json is not a LoRA config"
    if config.get("r") != RECIPE_FIELDS["r"] or sorted(
            config.get("target_modules") or []) != sorted(RECIPE_FIELDS["target_modules"]):
        return False, "adapter was trained with a different LoRA recipe"
    try:
        names = lora_tensor_names(directory)
    except Exception as exc:  # safetensors raises its own error types for a bad header
        return False, f"unreadable {WEIGHTS_FILE}: {exc}"
    if not names:
        return False, f"{WEIGHTS_FILE} holds no tensors"
    extra = _non_lora(names)
    if extra:
        return False, f"{WEIGHTS_FILE} holds tensors other than LoRA A/B ({extra[0]})"
    return True, None
