"""LoRA recipe, atomic adapter saves and the training loop, on tiny in-memory models."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import CharTokenizer
from peft import PeftModel
from transformers import LlamaConfig, LlamaForCausalLM

from adapters import lora
from adapters.evaluation import IGNORE, encode, encode_all, heldout_loss, make_batches
from adapters.train import Budget, train


@dataclass(frozen=True)
class Ex:
    kind: str
    prompt: str
    target: str
    source: str = "a.py"


@dataclass
class Data:
    train: list[Ex]
    heldout: list[Ex]
    nextline: list[tuple[str, str]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def tiny(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1,
                         vocab_size=len(CharTokenizer()), max_position_embeddings=256,
                         # With the default (0.02) the frozen output layer can barely move
                         # the logits, whatever the adapter learns.
                         initializer_range=0.3)
    return LlamaForCausalLM(config).eval()


def repetitive(n: int = 24) -> Data:
    """A pattern a tiny model learns in a few dozen steps."""
    def ex(i: int) -> Ex:
        return Ex("completion", f"# file {i}\n", "abcd" * 12 + "\n")
    return Data(train=[ex(i) for i in range(n)], heldout=[ex(100 + i) for i in range(4)],
                nextline=[(f"# file {i}\n", "abcd" * 4) for i in range(3)])


FAST = {"seq_len": 64, "batch_tokens": 256, "warmup_steps": 1, "eval_every": 0.25}


@pytest.fixture
def tok() -> CharTokenizer:
    return CharTokenizer()


def randomise_lora(model: PeftModel, seed: int = 1) -> None:
    """LoRA B starts at zero (no effect); give the adapter some effect without training."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.1)


def test_budget_parse() -> None:
    assert Budget.parse("90s") == Budget(seconds=90)
    assert Budget.parse("10m") == Budget(seconds=600)
    assert Budget.parse(" 1h ") == Budget(seconds=3600)
    assert Budget.parse("1.5h") == Budget(seconds=5400)
    assert Budget.parse("200k-tokens") == Budget(tokens=200_000)
    assert Budget.parse("5000-tokens") == Budget(tokens=5000)
    assert Budget.parse("2m-tokens") == Budget(tokens=2_000_000)
    for bad in ("", "10", "ten minutes", "0s", "-5m", "10x", "200k", "k-tokens"):
        with pytest.raises(ValueError, match=r"bad training budget .*90s, 10m or 1h"):
            Budget.parse(bad)
    with pytest.raises(ValueError):
        Budget()


def test_encode_masks_the_prompt_and_truncates_sensibly(tok: CharTokenizer) -> None:
    row = encode(tok, "ctx:", "xyz", seq_len=64)
    assert row is not None
    ids, labels = row
    assert ids == tok.encode("ctx:xyz")
    assert labels == [IGNORE] * 4 + tok.encode("xyz")
    assert encode(tok, "ctx", "", seq_len=64) is None
    # Too long: the prompt keeps its end, the target its start.
    ids, labels = encode(tok, "P" * 50 + "END", "T" * 10 + "tail", seq_len=20) or ([], [])
    assert len(ids) == 20 and tok.decode(ids[:6]).endswith("END")
    assert tok.decode([t for t in labels if t != IGNORE]) == "T" * 10 + "tail"


def test_loss_counts_only_target_tokens(tok: CharTokenizer) -> None:
    model = tiny()
    rows = encode_all(tok, [Ex("c", "prompt one", "target"), Ex("c", "p2", "other target")], 64)
    batch = make_batches(rows, 1024, pad=0)[0]
    loss, used = heldout_loss(model, [batch])
    assert used == 1 and loss is not None
    with torch.no_grad():
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    # Cross-entropy over target positions only, computed by hand.
    predicted, wanted = logits[:, :-1], batch.input_ids[:, 1:]
    is_target = batch.labels[:, 1:] != IGNORE
    manual = torch.nn.functional.cross_entropy(predicted[is_target], wanted[is_target])
    assert loss == pytest.approx(float(manual), rel=1e-5)
    assert batch.targets == int(is_target.sum()) == len("target") + len("other target")
    # Different prompts, same targets: the targets' share is what counts, not the prompt's
    # own tokens (which would differ in number and content).
    short = make_batches(encode_all(tok, [Ex("c", "p", "target")], 64), 1024, pad=0)[0]
    assert short.targets == len("target")


def test_loss_falls_and_the_adapter_beats_the_base(tok: CharTokenizer) -> None:
    model = lora.attach(tiny())
    events: list[dict[str, Any]] = []
    result = train(model, tok, repetitive(), budget=Budget(tokens=12_000), lr=2e-2,
                   progress=events.append, **FAST)
    losses = [e["loss"] for e in events if e["phase"] == "train"]
    assert len(losses) == result.steps >= 10
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 * 0.8
    assert result.heldout_loss_before is not None and result.heldout_loss_after is not None
    assert result.heldout_loss_after < result.heldout_loss_before and result.improved
    assert result.tokens >= 12_000 and not result.cancelled and result.stop_reason == "budget"
    assert result.exact_match_before is not None and result.nextline_pairs == 3
    assert 0.0 <= (result.exact_match_after or 0.0) <= 1.0
    fractions = [e["fraction"] for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0, abs=0.05)
    assert {"phase", "tokens", "step", "loss", "heldout_loss", "fraction", "eta_s"} <= set(
        events[0]) | set(events[1])


def test_best_checkpoint_is_kept(tok: CharTokenizer) -> None:
    model = lora.attach(tiny())
    data = repetitive()
    events: list[dict[str, Any]] = []
    # A learning rate far too high: held-out loss wanders, and the best must survive.
    result = train(model, tok, data, budget=Budget(tokens=8_000), lr=0.5, patience=100,
                   progress=events.append, **FAST)
    seen = [e["heldout_loss"] for e in events if e["phase"] == "eval"]
    assert len(seen) >= 3
    assert result.heldout_loss_after == pytest.approx(min(seen))
    # The restored adapter really is the best one.
    rows = encode_all(tok, data.heldout, 64)
    again, _ = heldout_loss(model, make_batches(rows, 4096, pad=0))
    assert again == pytest.approx(result.heldout_loss_after, rel=1e-4)


def test_no_improvement_keeps_the_base(tok: CharTokenizer) -> None:
    model = lora.attach(tiny())
    result = train(model, tok, repetitive(), budget=Budget(tokens=2_000), lr=0.0, **FAST)
    assert not result.improved
    assert result.heldout_loss_after == pytest.approx(result.heldout_loss_before)


def test_a_time_budget_is_kept(tok: CharTokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    import adapters.train as train_module

    class Clock:
        """Each reading is 10 ms later: the loop sees time pass at a fixed rate, whatever
        the machine's load (a shared CPU must not decide whether this test passes)."""

        def __init__(self) -> None:
            self.now = 0.0

        def perf_counter(self) -> float:
            self.now += 0.01
            return self.now

    monkeypatch.setattr(train_module, "time", Clock())
    result = train(lora.attach(tiny()), tok, repetitive(), budget=Budget(seconds=1.5),
                   patience=10**6, **FAST)
    assert result.stop_reason == "budget" and result.steps > 5
    assert 1.0 < result.seconds < 1.6


def test_cancel_stops_promptly(tok: CharTokenizer) -> None:
    model = lora.attach(tiny())
    cancel = threading.Event()

    def progress(event: dict[str, Any]) -> None:
        if event["step"] >= 3:
            cancel.set()

    result = train(model, tok, repetitive(), budget=Budget(seconds=600), cancel=cancel,
                   progress=progress, **FAST)
    assert result.cancelled and result.stop_reason == "cancelled"
    assert result.steps == 3 and result.seconds < 30
    assert result.heldout_loss_after is None and not result.improved

    cancel = threading.Event()
    cancel.set()
    early = train(lora.attach(tiny()), tok, repetitive(), budget=Budget(seconds=600),
                  cancel=cancel, **FAST)
    assert early.cancelled and early.steps == 0 and early.heldout_loss_before is None


def test_train_needs_examples_and_an_adapter(tok: CharTokenizer) -> None:
    with pytest.raises(ValueError, match="no training examples"):
        train(lora.attach(tiny()), tok, Data([], []), budget=Budget(tokens=10))
    with pytest.raises(ValueError, match="attach an adapter"):
        frozen = tiny().requires_grad_(False)
        train(frozen, tok, repetitive(), budget=Budget(tokens=10))


def test_without_heldout_examples_a_slice_of_train_is_used(tok: CharTokenizer) -> None:
    data = repetitive()
    result = train(lora.attach(tiny()), tok, Data(data.train, []), budget=Budget(tokens=500),
                   **FAST)
    assert result.heldout_loss_before is not None and result.heldout_tokens > 0


def test_saved_adapter_holds_lora_only_and_reloads_to_the_same_logits(tmp_path: Path) -> None:
    model = lora.attach(tiny(seed=3))
    randomise_lora(model)
    target = tmp_path / "v1"
    lora.save_adapter(model, target, {"note": "first"})
    assert {p.name for p in target.iterdir()} >= {lora.CONFIG_FILE, lora.WEIGHTS_FILE,
                                                   lora.METADATA_FILE}
    names = lora.lora_tensor_names(target)
    assert names and all(".lora_A." in n or ".lora_B." in n for n in names)
    meta = json.loads((target / lora.METADATA_FILE).read_text())
    assert meta["note"] == "first" and meta["recipe"]["r"] == 16
    assert lora.is_valid_adapter(target) == (True, None)

    ids = torch.tensor([[5, 9, 14, 30, 2]])
    with torch.no_grad():
        expected = model(input_ids=ids).logits
        reloaded = lora.load(tiny(seed=3), target, "v1")
        assert torch.allclose(reloaded(input_ids=ids).logits, expected, atol=1e-6)
        with reloaded.disable_adapter():
            assert not torch.allclose(reloaded(input_ids=ids).logits, expected, atol=1e-4)


def test_two_adapters_in_one_model_switch_by_name(tmp_path: Path) -> None:
    ids = torch.tensor([[5, 9, 14, 30, 2]])
    outputs = {}
    for seed in (1, 2):
        model = lora.attach(tiny())
        randomise_lora(model, seed)
        lora.save_adapter(model, tmp_path / f"a{seed}", {})
        with torch.no_grad():
            outputs[seed] = model(input_ids=ids).logits
    served = lora.load(tiny(), tmp_path / "a1", "a1")
    lora.load(served, tmp_path / "a2", "a2")
    with torch.no_grad():
        assert torch.allclose(served(input_ids=ids).logits, outputs[2], atol=1e-6)
        served.set_adapter("a1")
        assert torch.allclose(served(input_ids=ids).logits, outputs[1], atol=1e-6)


def test_a_crash_mid_save_leaves_the_previous_version(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    model = lora.attach(tiny())
    target = tmp_path / "adapter"
    lora.save_adapter(model, target, {"generation": 1})
    original = PeftModel.save_pretrained

    def crash(self: PeftModel, directory: str, **kwargs: Any) -> None:
        original(self, directory, **kwargs)
        (Path(directory) / lora.WEIGHTS_FILE).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(PeftModel, "save_pretrained", crash)
    with pytest.raises(OSError, match="disk full"):
        lora.save_adapter(model, target, {"generation": 2})
    assert lora.read_metadata(target)["generation"] == 1
    assert lora.is_valid_adapter(target) == (True, None)
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]  # no temporary left behind

    monkeypatch.setattr(PeftModel, "save_pretrained", original)
    lora.save_adapter(model, target, {"generation": 3})  # replacing a version works
    assert lora.read_metadata(target)["generation"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]


def test_is_valid_adapter_names_the_problem(tmp_path: Path) -> None:
    model = lora.attach(tiny())
    good = lora.save_adapter(model, tmp_path / "good", {})
    assert lora.is_valid_adapter(tmp_path / "missing") == (False, "not a directory")
    for name, damage in [("no-meta", lambda d: (d / lora.METADATA_FILE).unlink()),
                         ("truncated", lambda d: (d / lora.WEIGHTS_FILE).write_bytes(b"\x10")),
                         ("bad-json", lambda d: (d / lora.CONFIG_FILE).write_text("{"))]:
        broken = lora.save_adapter(model, tmp_path / name, {})
        damage(broken)
        ok, problem = lora.is_valid_adapter(broken)
        assert not ok and problem, name
    config = json.loads((good / lora.CONFIG_FILE).read_text())
    config["r"] = 8
    (good / lora.CONFIG_FILE).write_text(json.dumps(config))
    assert lora.is_valid_adapter(good) == (False, "adapter was trained with a different "
                                           "LoRA recipe")


def test_train_cli_progress_jsonl_saves_and_reports(tmp_path: Path, tok: CharTokenizer,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from adapters import models
    from server.cli import main

    repo = tmp_path / "repo"
    repo.mkdir()
    for i in range(12):
        body = "".join(f"def f{j}(x):\n    return x + {j}\n\n" for j in range(i, i + 8))
        (repo / f"m{i}.py").write_text(body)
    monkeypatch.setenv("TAILOR_HOME", str(tmp_path / "home"))
    source = models.ModelSource(spec="tiny", kind="hf_dir", name="tiny-model")
    monkeypatch.setattr(models, "load", lambda spec: models.LoadedModel(
        model=tiny(), tokenizer=tok, source=source, path="tiny", load_seconds=0.0,
        converted=False))

    code = main(["train", str(repo), "--budget", "2000-tokens", "--progress-jsonl"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert all(e["event"] == "progress" for e in lines[:-1])
    assert {e["phase"] for e in lines[:-1]} >= {"data", "model", "eval", "train"}
    done = lines[-1]
    assert done["event"] == "done" and done["tokens"] >= 2000 and done["model"] == "tiny-model"
    assert done["activated"] == done["improved"] and done["data"]["repo_id"] == done["repo_id"]
    assert lora.is_valid_adapter(Path(done["adapter_path"])) == (True, None)
    meta = lora.read_metadata(Path(done["adapter_path"]))
    assert meta["heldout_loss_before"] == done["heldout_loss_before"] and "commit" in meta

    assert main(["train", str(repo), "--budget", "soon"]) == 2
    assert "bad training budget" in capsys.readouterr().err
