"""The model contract: one schema read by every consumer, and one resolver of preprocessing settings."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from core import contract
from core.contract import read_contract, resolve_preprocess
from core.errors import UserError
from core.inference import default_model_path, load_model
from core.preprocess import PreprocessConfig


def test_resolver_precedence_defaults_then_contract_then_overrides():
    d = PreprocessConfig()
    c = {"preprocess": {"find": True, "radius": d.radius + 2, "gain": 0.3, "from_a_newer_version": 1}}
    assert resolve_preprocess(None) == d  # no contract: the defaults
    got = resolve_preprocess(c)
    assert (got.radius, got.gain, got.offset) == (d.radius + 2, 0.3, d.offset)  # contract over defaults
    got = resolve_preprocess(c, {"radius": 3, "steps": [64, 32]})
    assert (got.radius, got.gain, got.steps) == (3, 0.3, (64, 32))  # overrides over the contract
    with pytest.raises(UserError, match="unknown keys"):
        resolve_preprocess(c, {"radious": 3})  # a misspelt override is an error, not silently ignored


def test_a_contract_from_before_the_find_step_keeps_its_pipeline():
    old = {"preprocess": {"box": 140, "steps": [112, 56], "radius": 5, "offset": 14.0, "gain": 20.0,
                          "drop_border_ink": True, "min_part": 0.2}}
    got = resolve_preprocess(old)
    assert got == PreprocessConfig.legacy()  # a fixed 140 px box, the local mean, the edge clean-up
    assert resolve_preprocess({"preprocess": {**old["preprocess"], "box": None}}).box_px is None


def test_every_consumer_starts_from_the_same_settings(tmp_path):
    """predict, the web bundle and the dashboard read the shipped contract through the one resolver."""
    from core.bundle import bundle_files

    model = load_model(default_model_path())
    want = resolve_preprocess(model.contract)
    config = json.loads(bundle_files(default_model_path())["config.json"])
    assert PreprocessConfig.from_dict(config["preprocess"]) == want
    assert want == PreprocessConfig.from_dict(model.contract["preprocess"])  # the shipped contract sets every field


@pytest.mark.parametrize("change,words", [
    ({"input": "x"}, "'input' must be an object"),
    ({"preprocess": [1, 2]}, "'preprocess' must be an object"),
    ({"sha256": 5}, "'sha256' must be a string"),
    ({"output": {"name": 7, "shape": ["batch", 10]}}, "'output.name' must be a string"),
    ({"metrics": {"test_accuracy": "high"}}, "'metrics.test_accuracy' must be a number"),
    ({"preprocess": {"radius": "five"}}, "preprocess config"),
    ({"preprocess": {"steps": "ab"}}, "preprocess config"),
])
def test_a_contract_with_fields_of_the_wrong_type_is_one_line(tmp_path, change, words):
    src = default_model_path()
    dst = tmp_path / "model.onnx"
    shutil.copy(src, dst)
    c = read_contract(src) | change
    contract.write_contract(dst, c)
    with pytest.raises(UserError, match=words) as e:
        read_contract(dst)
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match=words):
        load_model(dst)


def test_a_contract_missing_a_field_names_it(tmp_path):
    dst = tmp_path / "model.onnx"
    shutil.copy(default_model_path(), dst)
    c = read_contract(default_model_path())
    del c["output"]
    contract.write_contract(dst, c)
    with pytest.raises(UserError, match="lacks 'output'"):
        read_contract(dst)


def test_decide_applies_the_contract_rejection_rule():
    from core.inference import NOT_A_DIGIT, NOT_SURE, decide

    z10 = np.log(np.array([[0.05] * 9 + [0.55], [0.1] * 10]))  # (2,10): a sure 9, then a flat guess
    plain = decide(z10, None)  # a ten-class model without a rule always answers
    assert [a.digit for a in plain] == [9, 0] and plain[0].none_probability == 0.0
    rule = {"none_class": 10, "min_confidence": 0.5}
    z11 = np.log(np.array([[0.02] * 9 + [0.7, 0.12], [0.04] * 10 + [0.6], [0.1] * 9 + [0.05, 0.05]]))  # (3,11)
    a = decide(z11, rule)
    assert (a[0].digit, a[0].reason) == (9, None) and abs(a[0].confidence - 0.7) < 1e-6
    assert (a[1].digit, a[1].reason) == (None, NOT_A_DIGIT) and abs(a[1].none_probability - 0.6) < 1e-6
    assert (a[2].digit, a[2].reason) == (None, NOT_SURE) and a[2].probabilities.shape == (10,)
    hot = decide(z11, rule | {"temperature": 0.5})  # a sharper softmax: the 9 gets surer
    assert hot[0].confidence > a[0].confidence
