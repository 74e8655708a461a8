"""Export: ONNX matches torch, both int8 formats are produced, measured and contracted; bad models are refused."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from core import cnn, cnn_train, contract, export, inference, quantize
from core.data import MNIST
from core.errors import UserError
from core.storage import read_json


@pytest.fixture(scope="module")
def exported(mnist, tmp_path_factory):
    """A default-preset CNN trained for 40 steps, exported with the full pipeline (1,000 test images)."""
    run = tmp_path_factory.mktemp("run")
    cfg = cnn_train.preset_config("default", epochs=1, max_steps=40, threads=1)
    data = MNIST(mnist.train_images, mnist.train_labels, mnist.test_images[:1000], mnist.test_labels[:1000])
    list(cnn_train.train(cfg, data, run))
    summary = export.export_run(run, run / "onnx", data, "python -m core export RUN")
    return run, run / "onnx", summary


def test_all_three_models_are_written_with_contracts(exported):
    run, out, summary = exported
    assert set(summary["models"]) == {export.FP32, export.DYNAMIC, export.STATIC}
    for kind, name in export.FILES.items():
        m = inference.load_model(out / name)  # the contract matches the file (sha256, names, shape)
        c = m.contract
        assert c["model_file"] == name and c["input"]["name"] == "image" and c["output"]["name"] == "logits"
        assert c["metrics"]["test_accuracy"] == summary["models"][kind]["test_accuracy"]
        assert c["size_bytes"] == (out / name).stat().st_size and c["export_command"] == "python -m core export RUN"
        assert c["architecture"]["name"] == "default" and c["wasm_ops_supported"]
        assert "preprocess" in c
    assert read_json(out / "export.json")["shipping"]["format"] in (export.DYNAMIC, export.STATIC)


def test_onnx_matches_torch_with_a_dynamic_batch(exported, mnist):
    run, out, summary = exported
    assert summary["torch_vs_ort_max_abs_diff"] <= 1e-4
    model, _ = cnn.load_model(run)
    onnx_model = inference.load_model(out / export.FILES[export.FP32])
    for n in (1, 7, 64):
        images = mnist.test_images[:n]
        ref = cnn.predict_logits(model, images)
        got = onnx_model.logits(images.astype(np.float32) / 255)
        assert got.shape == (n, 10) and np.abs(ref - got).max() <= 1e-4
    graph = onnx.load(str(out / export.FILES[export.FP32]))
    assert "BatchNormalization" not in {n.op_type for n in graph.graph.node}  # folded in torch before export


def test_int8_models_stay_close_to_fp32(exported, mnist):
    _, out, summary = exported
    fp32 = inference.load_model(out / export.FILES[export.FP32])
    x = mnist.test_images[:500].astype(np.float32) / 255
    ref = fp32.logits(x).argmax(1)
    for kind in (export.DYNAMIC, export.STATIC):
        m = inference.load_model(out / export.FILES[kind])
        assert (m.logits(x).argmax(1) == ref).mean() >= 0.95
        assert summary["models"][kind]["size_bytes"] < summary["models"][export.FP32]["size_bytes"] / 3


def test_quantized_graphs_use_wasm_ops_only(exported):
    _, out, summary = exported
    dyn = set(summary["models"][export.DYNAMIC]["ops"])
    assert {"ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"} <= dyn  # as the seed's graph
    static = set(summary["models"][export.STATIC]["ops"])
    assert {"QuantizeLinear", "DequantizeLinear"} <= static
    for kind in export.FILES:
        assert export.wasm_unsupported(summary["models"][kind]["ops"]) == []
    assert export.wasm_unsupported(["Conv", "com.microsoft.QGemm"]) == ["com.microsoft.QGemm"]
    rows = quantize.quantized_weights(out / export.FILES[export.STATIC])
    shapes = sorted(r["shape"] for r in rows)
    assert shapes == [[16, 1, 3, 3], [32, 16, 3, 3], [64, 864], [96, 32, 3, 3]]  # the last layer stays float
    assert all(r["dtype"] == "int8" and r["per_channel"] for r in rows)
    assert {r["dtype"] for r in quantize.quantized_weights(out / export.FILES[export.DYNAMIC])} == {"uint8"}


@pytest.mark.browser
def test_every_model_is_measured_on_three_backends_that_agree(exported):
    _, out, summary = exported
    for kind, row in summary["models"].items():
        b = row["backends"]
        assert set(b) == set(export.BACKENDS), kind
        assert len({v["test_accuracy"] for v in b.values()}) == 1, kind  # the same accuracy everywhere
        assert row["optimized_vs_reference"]["argmax_agreement"] == 1.0, kind
        web = b["onnxruntime_web_chromium"]
        assert web["argmax_agreement_with_onnxruntime"] == 1.0 and web["max_abs_logit_diff_vs_onnxruntime"] <= 1e-3
        assert row["portability_problems"] == [] and row["saturation_risks"] == []
        c = inference.load_model(out / export.FILES[kind]).contract
        assert c["metrics"]["backends"] == b  # the contract records all three


def test_static_int8_weights_cannot_saturate_on_any_cpu(exported):
    _, out, summary = exported
    path = out / export.FILES[export.STATIC]
    assert quantize.saturation_risks(path) == []  # 7-bit weights: 255 x (64 + 64) <= 32767
    assert max(r["max_abs_weight"] for r in quantize.integer_weight_ranges(path)) <= 64


def test_choose_shipping():
    rows = {
        export.FP32: {"test_accuracy": 0.9950, "latency_ms_1": 0.03, "size_bytes": 400_000},
        export.DYNAMIC: {"test_accuracy": 0.9945, "latency_ms_1": 0.06, "size_bytes": 110_000},
        export.STATIC: {"test_accuracy": 0.9941, "latency_ms_1": 0.04, "size_bytes": 115_000},
    }
    assert export.choose_shipping(rows)[0] == export.STATIC
    rows[export.STATIC]["test_accuracy"] = 0.9930  # 0.2 pp below fp32: out of bounds
    assert export.choose_shipping(rows)[0] == export.DYNAMIC
    rows[export.STATIC]["test_accuracy"] = 0.9949
    rows[export.STATIC]["portability_problems"] = ["could saturate"]  # faster and closer, but not portable
    assert export.choose_shipping(rows)[0] == export.DYNAMIC
    rows[export.DYNAMIC]["portability_problems"] = ["backends disagree"]
    with pytest.raises(UserError, match="no int8 model is portable"):
        export.choose_shipping(rows)


def test_ship_copies_model_and_contract(exported, tmp_path):
    _, out, _ = exported
    dest = export.ship(out / export.FILES[export.STATIC], tmp_path)
    m = inference.load_model(dest)
    assert dest.name == "model.onnx" and m.contract["model_file"] == "model.onnx"
    assert m.contract["exported_as"] == export.FILES[export.STATIC]


@pytest.mark.browser
@pytest.mark.slow
def test_export_cli_again_gives_the_same_sha256_and_ships_into_a_temporary_folder(exported, mnist, tmp_path,
                                                                                    monkeypatch, capsys):
    """`python -m core export RUN --ship` on the fixture's run: every file bit for bit the fixture's (the README's
    reproducibility claim), and the chosen one shipped, with ship() pointed at a temporary folder, not core/assets."""
    import functools

    from core import data as core_data
    from core.cli import main

    run, out, _ = exported
    subset = MNIST(mnist.train_images, mnist.train_labels, mnist.test_images[:1000], mnist.test_labels[:1000])
    monkeypatch.setattr(core_data, "load_mnist", lambda *a, **k: subset)  # the fixture's data: same files, less time
    assets = tmp_path / "assets"
    monkeypatch.setattr(export, "ship", functools.partial(export.ship, dest_dir=assets))
    assert main(["export", str(run), "--out", str(tmp_path / "again"), "--ship"]) == 0
    for kind, name in export.FILES.items():
        assert contract.sha256_file(tmp_path / "again" / name) == contract.sha256_file(out / name), kind
    shipped = inference.load_model(assets / "model.onnx")  # checked against its contract's SHA-256
    assert "shipping int8-" in capsys.readouterr().out and (assets / "model.pt").exists()  # (the faster, here)
    assert shipped.contract["sha256"] == contract.sha256_file(out / shipped.contract["exported_as"])
    assert shipped.contract["export_command"].endswith("--ship")


# --- bad input ---------------------------------------------------------------------------------------------


def contracted(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    contract.write_contract(path, contract.make_contract(path, preprocess={}, metrics={}))
    return path


def tiny_onnx(input_name: str = "image", shape=("N", 1, 28, 28), output_name: str = "logits") -> bytes:
    """A valid ONNX graph: Flatten then Gemm to 10 outputs."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [784, 10], np.zeros(7840, np.float32))
    graph = helper.make_graph(
        [helper.make_node("Flatten", [input_name], ["f"]), helper.make_node("Gemm", ["f", "w"], [output_name])],
        "foreign", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", 10])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return model.SerializeToString()


def test_random_bytes_are_refused(tmp_path):
    path = contracted(tmp_path, "junk.onnx", np.random.default_rng(0).bytes(4096))
    with pytest.raises(UserError, match="not a loadable ONNX model") as e:
        inference.load_model(path)
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="not a valid ONNX model"):
        export.check_onnx(path)


@pytest.mark.parametrize("kw,match", [
    ({"input_name": "input"}, "input/output"),
    ({"output_name": "output"}, "input/output"),
    ({"shape": ("N", 784)}, "shape"),
])
def test_foreign_onnx_is_refused(tmp_path, kw, match):
    path = contracted(tmp_path, "foreign.onnx", tiny_onnx(**kw))
    with pytest.raises(UserError, match=match) as e:
        inference.load_model(path)
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match=match):
        export.check_onnx(path)
    inference.load_model(contracted(tmp_path, "ours.onnx", tiny_onnx()))  # the same graph, named right, loads


def test_contract_that_does_not_match_its_model(exported, tmp_path):
    _, out, _ = exported
    src = out / export.FILES[export.DYNAMIC]
    path = tmp_path / "model.onnx"
    shutil.copy(src, path)
    shutil.copy(contract.contract_path(src), contract.contract_path(path))
    path.write_bytes(src.read_bytes() + b"\0")  # one byte more: no longer the file the contract describes
    with pytest.raises(UserError, match="SHA-256 differs"):
        inference.load_model(path)
    path.write_bytes(src.read_bytes())
    c = read_json(contract.contract_path(path))
    contract.write_contract(path, c | {"input": c["input"] | {"name": "pixels"}})
    with pytest.raises(UserError, match="do not match the contract"):
        inference.load_model(path)
    contract.contract_path(path).unlink()
    with pytest.raises(UserError, match="contract not found"):
        inference.load_model(path)


def test_export_refuses_a_foreign_run(tmp_path):
    (tmp_path / cnn.MODEL_NAME).write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="not a readable CNN model"):
        export.export_run(tmp_path, tmp_path / "onnx", None)
    torch.save({"format": cnn.MODEL_FORMAT, "arch": "default", "model": cnn.build_model("seed").state_dict()},
               tmp_path / cnn.MODEL_NAME)
    with pytest.raises(UserError, match="do not fit the 'default' architecture"):
        export.export_run(tmp_path, tmp_path / "onnx", None)


# --- the shipped model --------------------------------------------------------------------------------------


def test_shipped_model_meets_its_contract(mnist):
    m = inference.load_model(inference.default_model_path())
    c = m.contract
    assert c["size_bytes"] <= 215_140  # no bigger than the seed's model
    assert c["wasm_ops_supported"] and export.wasm_unsupported(quantize.op_types(m.path)) == []
    x = mnist.test_images.astype(np.float32) / 255
    z = np.concatenate([m.logits(x[i : i + 2000]) for i in range(0, 10_000, 2000)])
    acc = float((z[:, :10].argmax(1)  # the best of the ten digits: the contract's test_accuracy, no rejection
                 == mnist.test_labels).mean())
    assert acc == pytest.approx(c["metrics"]["test_accuracy"], abs=1e-9)  # the contract states what it measures
    assert acc >= 0.995
    assert c["metrics"]["accuracy_drop_pp"] <= export.MAX_DROP_PP
