"""The predictor: tiny trainings for the training code, the shipped model for ONNX parity."""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from selector.perf import export as perf_export
from selector.perf.corpus import build_corpus
from selector.perf.features import FEATURE_NAMES, INDEX, extract_source
from selector.perf.labels import generate_programs, program_features
from selector.perf.model import (
    PerfNet,
    feature_groups,
    fit_predictor,
    predict,
    pretrain,
    reconstruction_error,
)
from selector.perf.programs import static_steps

torch.set_num_threads(1)

FUNCTIONS = textwrap.dedent('''
    def a(items):
        out = []
        for x in items:
            if x not in out:
                out.append(x)
        return out

    def b(items, other):
        seen = set(other)
        return [x for x in items if x in seen]

    def c(rows):
        s = ""
        for r in rows:
            for c in r:
                s += c
        return s

    def d(x):
        return x + 1

    def e(rows):
        return ", ".join(sorted(rows))
''')


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """Feature vectors of the functions in a slice of the standard library."""
    import email  # a real stdlib package with several hundred functions

    root = Path(email.__file__).parent
    cache = tmp_path_factory.mktemp("corpus")
    return build_corpus(cache, roots=[root], workers=1)


def synthetic_target(x: np.ndarray) -> np.ndarray:
    """A log-runtime stand-in: grows with loop depth and with list scans inside loops."""
    return (2.0 * x[:, INDEX["max_depth"]] + 1.5 * x[:, INDEX["member_list_d1"]]
            + 0.1 * x[:, INDEX["stmts"]] - 12.0).astype(np.float32)


def test_the_corpus_is_the_feature_vectors_of_every_function(corpus: np.ndarray,
                                                             tmp_path: Path) -> None:
    assert corpus.shape[1] == len(FEATURE_NAMES) and len(corpus) > 50
    (tmp_path / "m.py").write_text(FUNCTIONS)
    (tmp_path / "broken.py").write_text("def oops(:\n")
    small = build_corpus(tmp_path / "cache", roots=[tmp_path], workers=1)
    expected = np.stack([f.vector for f in extract_source(FUNCTIONS)])
    np.testing.assert_array_equal(small, expected)


def test_pretraining_learns_to_reconstruct_unseen_functions(corpus: np.ndarray) -> None:
    train, held = corpus[: len(corpus) * 3 // 4], corpus[len(corpus) * 3 // 4:]
    torch.manual_seed(0)
    net = PerfNet(len(FEATURE_NAMES), hidden=64, code=16)
    # noise only: with group masking on (the default) a few hundred email functions are too
    # few to learn to fill in masked groups within this budget
    pretrain(net, train, steps=600, batch=64, mask=0.0)
    with torch.no_grad():  # the error of always answering the average function
        z_train = net.normalise(torch.from_numpy(train))
        z_held = net.normalise(torch.from_numpy(held))
        average = float(torch.mean((z_held - z_train.mean(0)) ** 2))
    assert reconstruction_error(net, held) < 0.5 * average


def test_masking_hides_every_depth_of_an_operation_together() -> None:
    groups = feature_groups(FEATURE_NAMES)
    assert [INDEX[f"call_d{d}"] for d in range(4)] in groups
    assert [INDEX["max_depth"]] in groups
    assert sorted(i for g in groups for i in g) == list(range(len(FEATURE_NAMES)))


def test_the_frozen_stage_keeps_the_encoder_and_fine_tuning_changes_it(
        corpus: np.ndarray) -> None:
    torch.manual_seed(0)
    net = PerfNet(len(FEATURE_NAMES), hidden=64, code=16)
    pretrain(net, corpus, steps=50, batch=64)
    y = synthetic_target(corpus)
    frozen = copy.deepcopy(net)
    fit_predictor(frozen, corpus, y, head_steps=50, tune_steps=0)
    for p, q in zip(net.encoder.parameters(), frozen.encoder.parameters(), strict=True):
        assert torch.equal(p, q)
    tuned = copy.deepcopy(net)
    fit_predictor(tuned, corpus, y, head_steps=50, tune_steps=50)
    assert any(not torch.equal(p, q) for p, q in zip(net.encoder.parameters(),
                                                        tuned.encoder.parameters(),
                                                        strict=True))


def test_fitting_predicts_held_out_runtimes_better_than_their_mean(corpus: np.ndarray) -> None:
    torch.manual_seed(0)
    net = PerfNet(len(FEATURE_NAMES), hidden=64, code=16)
    pretrain(net, corpus, steps=200, batch=64)
    y = synthetic_target(corpus)
    cut = len(corpus) * 3 // 4
    fit_predictor(net, corpus[:cut], y[:cut], head_steps=300, tune_steps=200)
    err = np.mean(np.abs(predict(net, corpus[cut:]) - y[cut:]))
    baseline = np.mean(np.abs(y[:cut].mean() - y[cut:]))
    assert err < 0.5 * baseline


def test_an_exported_model_gives_the_same_predictions_in_onnxruntime(
        corpus: np.ndarray, tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = PerfNet(len(FEATURE_NAMES), hidden=32, code=8)
    pretrain(net, corpus, steps=20, batch=64)
    fit_predictor(net, corpus, synthetic_target(corpus), head_steps=20, tune_steps=20)
    perf_export.export(net, tmp_path, info={"note": "tiny"})
    onnx = perf_export.OnnxPredictor(tmp_path)
    torch_again = perf_export.TorchPredictor(tmp_path)
    np.testing.assert_allclose(onnx(corpus), predict(net, corpus), atol=1e-4, rtol=1e-5)
    np.testing.assert_allclose(torch_again(corpus), predict(net, corpus), atol=1e-6)
    assert json.loads((tmp_path / "perf.json").read_text())["info"] == {"note": "tiny"}


def test_the_shipped_model_agrees_between_torch_and_onnxruntime(corpus: np.ndarray) -> None:
    onnx = perf_export.OnnxPredictor()
    torch_model = perf_export.TorchPredictor()
    rows = np.concatenate([corpus, np.stack([f.vector for f in extract_source(FUNCTIONS)])])
    out = onnx(rows)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, torch_model(rows), atol=1e-4, rtol=1e-5)
    single = onnx(rows[0])  # one vector works as well as a batch
    assert single.shape == (1,) and single[0] == pytest.approx(out[0], abs=1e-5)


def test_a_model_for_other_features_is_refused(tmp_path: Path) -> None:
    meta = json.loads((perf_export.SHIPPED_DIR / perf_export.META_NAME).read_text())
    meta["feature_names"] = meta["feature_names"][:-1]
    (tmp_path / perf_export.META_NAME).write_text(json.dumps(meta))
    with pytest.raises(perf_export.ModelMismatchError):
        perf_export.OnnxPredictor(tmp_path)


def test_the_step_count_pretext_teaches_the_head_how_work_grows(corpus: np.ndarray) -> None:
    """Pre-trained with the static step counts of generated programs, the head needs only a
    scale and an offset from 20 programs to tell how much work 180 unseen ones do; on the
    autoencoder's code alone the same calibration is far off."""
    programs, _ = generate_programs(1200, seed=4)
    feats = np.stack([program_features(p.source()) for p in programs])
    steps = np.array([static_steps(p) for p in programs], dtype=np.float32)
    truth = steps[1000:, 0]

    def calibrated_error(pretext: bool) -> float:
        torch.manual_seed(0)
        net = PerfNet(len(FEATURE_NAMES), hidden=64, code=16)
        pretrain(net, corpus, steps=500, batch=128, mask=0.0,
                 pretext=(feats[:1000], steps[:1000]) if pretext else None)
        with torch.no_grad():
            guess = net.head(net.encoder(net.normalise(torch.from_numpy(feats[1000:]))))
        design = np.stack([guess.squeeze(-1).numpy(), np.ones(len(truth))], axis=1)
        fit, *_ = np.linalg.lstsq(design[:20], truth[:20], rcond=None)
        return float(np.mean(np.abs(design[20:] @ fit - truth[20:])))

    spread = float(np.mean(np.abs(truth - np.median(truth))))
    with_pretext, without = calibrated_error(pretext=True), calibrated_error(pretext=False)
    assert with_pretext < 0.6 * without  # measured 0.65 vs 1.34 (log steps)
    assert with_pretext < 0.5 * spread  # guessing the median: 2.03
