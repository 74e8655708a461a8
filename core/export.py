"""Export a trained CNN to ONNX, check it, quantize it to 8 bits two ways, measure all three, pick one to ship.

As onnxruntime-inference-examples do it: torch -> ONNX (named input "image" / output "logits", dynamic
batch) -> onnx.checker -> onnxruntime vs torch logits -> quantize (core.quantize: dynamic as the seed did,
static QDQ with 7-bit weights) -> accuracy, size and latency of each. Every model's accuracy is measured on
three backends: onnxruntime with every graph optimization (fused integer kernels), onnxruntime with none
(reference math) and onnxruntime-web in Chromium; a model ships only when they agree on every test image
and no CPU can saturate its integer sums. Every `.onnx` gets its contract JSON beside it (core.inference).
BatchNorm is folded into the convolutions in torch before export, so the graph is Conv-Relu-MaxPool-Gemm only.
"""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core import contract, inference, quantize
from core.cnn import CNN, load_model
from core.data import MNIST
from core.errors import UserError, first_line
from core.preprocess import PreprocessConfig
from core.runtime import machine_info
from core.storage import ASSETS_DIR, atomic_write_bytes, atomic_write_json, ensure_dir, read_json

OPSET = 18  # the torch.export-based exporter's lowest; onnxruntime-web 1.2x runs opsets up to 21
FP32, DYNAMIC, STATIC = "fp32", "int8-dynamic", "int8-static"
FILES = {FP32: "model.fp32.onnx", DYNAMIC: "model.int8-dynamic.onnx", STATIC: "model.int8-static.onnx"}
MAX_DROP_PP = 0.1  # an int8 model may lose at most this much test accuracy (percentage points) vs fp32
TORCH_TOL = 1e-4  # max |ORT - torch| on fp32 logits
BACKENDS = ("onnxruntime", "onnxruntime_reference", "onnxruntime_web_chromium")
VAL_POOL = (3000, 4000)  # camera digits and negative attempts rendered from the validation split (core.camera_data)

# Op types onnxruntime-web's wasm backend runs: it is onnxruntime's CPU kernels compiled to WebAssembly,
# including the quantized ones (ConvInteger, MatMulInteger, DynamicQuantizeLinear, QLinear*, QDQ).
WASM_OPS = frozenset({
    "Conv", "Relu", "MaxPool", "Flatten", "Reshape", "Gemm", "MatMul", "Add", "Mul", "Cast", "Identity",
    "DynamicQuantizeLinear", "ConvInteger", "MatMulInteger", "QuantizeLinear", "DequantizeLinear",
    "QLinearConv", "QLinearMatMul",
})


# --- torch -> ONNX ----------------------------------------------------------------------------------


def fold_batchnorm(model: CNN) -> CNN:
    """A copy of `model` (eval mode) with each Conv2d+BatchNorm2d pair fused into one Conv2d."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    m = copy.deepcopy(model).eval()
    layers = list(m.features)
    for i in range(len(layers) - 1):
        if isinstance(layers[i], nn.Conv2d) and isinstance(layers[i + 1], nn.BatchNorm2d):
            layers[i], layers[i + 1] = fuse_conv_bn_eval(layers[i], layers[i + 1]), nn.Identity()
    m.features = nn.Sequential(*layers)
    return m


def export_onnx(module: nn.Module, path: Path, opset: int = OPSET) -> Path:
    """Export (N,1,28,28) -> (N,10) with input "image", output "logits" and a dynamic batch axis."""
    import onnx

    module = module.eval().cpu()
    x = torch.rand(2, 1, 28, 28)
    with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():  # the exporter narrates its steps
        prog = torch.onnx.export(
            module, (x,), None, input_names=[contract.INPUT_NAME], output_names=[contract.OUTPUT_NAME],
            dynamic_shapes=({0: torch.export.Dim("batch", min=1)},), dynamo=True, opset_version=opset,
            verbose=False, external_data=False,
        )
    model = prog.model_proto
    model.producer_name, model.doc_string = "digit-inference-engine", "MNIST digit classifier"
    for node in model.graph.node:  # the exporter's debug notes (source paths, line numbers): drop them so the
        del node.metadata_props[:]  # file depends only on the weights, not on where the repo lives
        node.doc_string = ""
    # The exporter records value_info for initializers too; the quantizers transpose Gemm weights and then
    # trip over those stale shapes, so keep only what shape inference derives.
    del model.graph.value_info[:]
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    return atomic_write_bytes(path, model.SerializeToString())


def check_onnx(path: Path):
    """onnx.checker (full) plus this project's contract shape: one input "image" (N,1,28,28), output "logits"."""
    import onnx

    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # onnx raises DecodeError, ValidationError, InferenceError...
        raise UserError(f"{path} is not a valid ONNX model: {first_line(e)}") from None
    inference.check_graph_io(model, path)
    return model


@torch.no_grad()
def torch_vs_ort(module: nn.Module, path: Path, images: np.ndarray) -> float:
    """Max |logits_torch - logits_ORT| over uint8 images (N,28,28), run as one batch and as single images."""
    x = inference.to_model_input(images)  # (N,1,28,28)
    session = inference.open_session(path)
    ref = module.eval().cpu()(torch.from_numpy(x)).numpy()
    batch = session.run(None, {contract.INPUT_NAME: x})[0]
    single = np.concatenate([session.run(None, {contract.INPUT_NAME: x[i : i + 1]})[0] for i in range(3)])
    return float(max(np.abs(ref - batch).max(), np.abs(ref[:3] - single).max()))


# --- measurement --------------------------------------------------------------------------------------


def backend_rows(path: Path, data: MNIST) -> dict:
    """Accuracy on the whole test set through onnxruntime optimized and reference (no graph optimization), their
    argmax agreement and max |logit difference|, and the static saturation check (core.quantize)."""
    both = quantize.optimized_vs_reference(path, data.test_images)
    acc = {k: digit_accuracy(z, data.test_labels) for k, z in both["logits"].items()}
    return {"backends": {"onnxruntime": {"test_accuracy": acc["optimized"], "graph_optimization": "all"},
                         "onnxruntime_reference": {"test_accuracy": acc["reference"], "graph_optimization": "none"}},
            "optimized_vs_reference": {"argmax_agreement": both["argmax_agreement"],
                                       "max_abs_logit_diff": both["max_abs_logit_diff"],
                                       "images": len(data.test_labels)},
            "saturation_risks": quantize.saturation_risks(path), "_logits": both["logits"]["optimized"]}


def digit_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of images whose most likely *digit* is right: no rejection, an 11th "not a digit" output ignored
    (what `predict --raw` answers)."""
    return float((logits[:, :10].argmax(1) == labels).mean())


def browser_row(path: Path, data: MNIST, native_logits: np.ndarray) -> dict:
    """Accuracy of the model in onnxruntime-web inside Chromium (the web page's own session) on the whole test set,
    its argmax agreement and max |logit difference| with native optimized onnxruntime, single-image latency."""
    from core.bundle import browser_logits

    r = browser_logits(path, data.test_images)
    z = r["logits"]
    return {"test_accuracy": digit_accuracy(z, data.test_labels),
            "argmax_agreement_with_onnxruntime": float((z.argmax(1) == native_logits.argmax(1)).mean()),
            "max_abs_logit_diff_vs_onnxruntime": float(np.abs(z - native_logits).max()),
            "latency_ms_1": r["latency_ms_1"]}


def portability_problems(row: dict) -> list[str]:
    """Why a measured model must not ship: CPU-dependent integer sums, or backends that disagree on an image."""
    problems = list(row["saturation_risks"])
    ovr = row["optimized_vs_reference"]
    if ovr["argmax_agreement"] < 1.0:
        problems.append(f"onnxruntime optimized and reference disagree on {1 - ovr['argmax_agreement']:.2%} of the "
                        "test images")
    web = row["backends"].get("onnxruntime_web_chromium")
    if web is not None and web["argmax_agreement_with_onnxruntime"] < 1.0:
        problems.append("onnxruntime-web in Chromium and onnxruntime disagree on "
                        f"{1 - web['argmax_agreement_with_onnxruntime']:.2%} of the test images")
    return problems


def choose_shipping(rows: dict[str, dict]) -> tuple[str, str]:
    """(format, reason): the fastest single-image portable int8 model among those within MAX_DROP_PP of fp32."""
    fp32 = rows[FP32]["test_accuracy"]
    int8 = {k: r for k, r in rows.items() if k != FP32}
    portable = {k: r for k, r in int8.items() if not r.get("portability_problems")}
    ok = {k: r for k, r in portable.items() if (fp32 - r["test_accuracy"]) * 100 <= MAX_DROP_PP + 1e-9}
    figures = "; ".join(f"{k}: {r['test_accuracy'] * 100:.2f} %, {r['latency_ms_1'] * 1e3:.0f} µs, "
                        f"{r['size_bytes'] / 1000:.1f} kB" for k, r in rows.items())
    if not portable:
        raise UserError("no int8 model is portable: " + "; ".join(
            f"{k}: {', '.join(r['portability_problems'])}" for k, r in int8.items()))
    if not ok:
        best = max(portable, key=lambda k: rows[k]["test_accuracy"])
        return best, f"no int8 model stays within {MAX_DROP_PP} pp of fp32; shipped the most accurate ({figures})"
    best = min(ok, key=lambda k: (rows[k]["latency_ms_1"], rows[k]["size_bytes"]))
    return best, (f"both int8 formats measured; {best} is the fastest for one image among the portable ones within "
                  f"{MAX_DROP_PP} pp of fp32 ({figures})")


# --- the pipeline -------------------------------------------------------------------------------------

QUANTIZATION = {
    FP32: {"method": "none", "batchnorm": "folded into the convolutions"},
    DYNAMIC: {"method": "onnxruntime quantize_dynamic", "weights": "uint8, per tensor",
              "activations": "uint8, quantized at run time (DynamicQuantizeLinear)", "as": "the seed"},
    STATIC: {"method": "onnxruntime quantize_static, QDQ format",
             "weights": "int8 with 7-bit range (reduce_range: |w| <= 64), per output channel",
             "activations": "uint8, ranges calibrated by min/max",
             "calibration": f"{quantize.CALIBRATION_IMAGES} random MNIST training images (seed 0)",
             "float": "the last layer, so the logits are not rounded to 256 levels",
             "why_7_bit": "x86 CPUs without VNNI add u8 x s8 products in pairs in 16 bits; 255 x (64 + 64) = 32640 "
                          "cannot saturate, so every CPU computes the same integers (8-bit weights gave 0.2 pp less "
                          "on such a CPU)"},
}


def measure_natively(paths: dict[str, Path], data: MNIST, say) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """Each file's row (size, ops, both native backends, latency, drop from fp32) and its optimized logits."""
    rows: dict[str, dict] = {}
    native: dict[str, np.ndarray] = {}
    for k, p in paths.items():
        say(f"measuring {k}: onnxruntime optimized and reference")
        check_onnx(p)
        ops = quantize.op_types(p)
        rows[k] = {"file": p.name, "size_bytes": p.stat().st_size, "ops": ops,
                   "wasm_unsupported_ops": wasm_unsupported(ops)}
        rows[k] |= backend_rows(p, data)
        native[k] = rows[k].pop("_logits")
        rows[k]["test_accuracy"] = rows[k]["backends"]["onnxruntime"]["test_accuracy"]
    say("measuring latency")
    for k, lat in inference.latencies(paths, data.test_images).items():
        rows[k] |= lat
    for r in rows.values():
        r["accuracy_drop_pp"] = round((rows[FP32]["test_accuracy"] - r["test_accuracy"]) * 100, 4)
    return rows, native


def model_contract(path: Path, kind: str, rows: dict[str, dict], arch: dict, run_metrics: dict,
                   export_command: str, rule: dict | None = None) -> dict:
    """The contract of one exported file: its measured figures (every backend), architecture, quantization; an
    11-output model also its labels and its rejection rule (core.rejection)."""
    r, timings = rows[kind], run_metrics.get("timings") or {}
    eleven = {} if rule is None else {
        "labels": [*range(10), "not a digit"],
        "output": {"name": contract.OUTPUT_NAME, "shape": ["batch", 11], "dtype": "float32", "kind": "logits"},
        "rejection": rule}
    return contract.make_contract(
        path, preprocess=PreprocessConfig().to_dict(),
        metrics={"test_accuracy": r["test_accuracy"], "test_set": "MNIST test, 10,000 images"
                 + (" (the best digit, no rejection)" if rule else ""),
                 "backends": r["backends"], "optimized_vs_reference": r["optimized_vs_reference"],
                 "fp32_test_accuracy": rows[FP32]["test_accuracy"], "accuracy_drop_pp": r["accuracy_drop_pp"],
                 "latency_ms_1": r["latency_ms_1"], "throughput_256_per_s": r["throughput_256_per_s"],
                 "ort_threads": 1, "onnxruntime": _ort_version(), "machine": machine_info()},
        extra={"architecture": arch, "quantization": QUANTIZATION[kind], "opset": OPSET, "ops": r["ops"],
               "integer_layers": quantize.integer_weight_ranges(path),
               "wasm_ops_supported": not r["wasm_unsupported_ops"],
               "training_command": run_metrics.get("command", ""), "export_command": export_command,
               "training_metrics": {"accuracy_torch": run_metrics.get("test_accuracy"),
                                    "evaluated_on": run_metrics.get("evaluated_on", "MNIST test"),
                                    "train_seconds": timings.get("train_seconds"), "threads": timings.get("threads")},
               **eleven},
    )


def export_run(run_dir: Path, out_dir: Path, data: MNIST, export_command: str = "", progress=None,
               browser: bool = True) -> dict:
    """Export, check, quantize (dynamic and static), measure on every backend and write contracts; returns the
    summary. browser=False skips the Chromium backend (such an export cannot be shipped)."""
    say = progress or (lambda _what: None)
    run_dir = Path(run_dir)
    model, _ = load_model(run_dir)  # before anything is written: a folder that is not a run gets nothing
    out_dir = ensure_dir(Path(out_dir))
    metrics_path = run_dir / "metrics.json"
    run_metrics = read_json(metrics_path, "run metrics") if metrics_path.exists() else {}
    fused = fold_batchnorm(model)
    paths = {k: out_dir / f for k, f in FILES.items()}

    say("exporting fp32 ONNX")
    export_onnx(fused, paths[FP32])
    check_onnx(paths[FP32])
    diff = torch_vs_ort(model, paths[FP32], data.test_images[:500])
    if not diff <= TORCH_TOL:
        raise UserError(f"onnxruntime and torch disagree by {diff:.2e} (> {TORCH_TOL}) on {paths[FP32]}")
    say("quantizing (dynamic, as the seed)")
    quantize.quantize_dynamic_like_seed(paths[FP32], paths[DYNAMIC])
    say(f"quantizing (static QDQ, 7-bit weights, calibrated on {quantize.CALIBRATION_IMAGES} training images)")
    quantize.quantize_static_qdq(paths[FP32], paths[STATIC], data.train_images)

    rows, native = measure_natively(paths, data, say)
    arch = {"name": model.arch, "params": sum(p.numel() for p in model.parameters()),
            "layers": [type(m).__name__ for m in list(model.features) + list(model.classifier)]}
    rules = rejection_rules(paths, data, say) if model.classifier[-1].out_features == 11 else {}

    def contract_for(k: str) -> dict:
        return model_contract(paths[k], k, rows, arch, run_metrics, export_command, rules.get(k))

    for k in paths:  # the web page reads the contract, so each model gets one before Chromium runs it
        write_contract_checked(paths[k], contract_for(k))
    if browser:
        for k, p in paths.items():
            say(f"measuring {k} in onnxruntime-web (Chromium)")
            rows[k]["backends"]["onnxruntime_web_chromium"] = browser_row(p, data, native[k])
    for k in paths:
        rows[k]["portability_problems"] = portability_problems(rows[k])
        write_contract_checked(paths[k], contract_for(k))
    ship, reason = choose_shipping(rows)
    summary = {"run_dir": str(run_dir), "torch_vs_ort_max_abs_diff": diff, "models": rows,
               "shipping": {"format": ship, "file": FILES[ship], "reason": reason},
               "training_command": run_metrics.get("command", ""), "export_command": export_command}
    atomic_write_json(out_dir / "export.json", summary)
    return summary


def rejection_rules(paths: dict[str, Path], data: MNIST, say) -> dict[str, dict]:
    """Each exported 11-output file's rejection rule, chosen on its own validation logits (core.rejection)."""
    from core.camera_data import TRAIN_DIGITS, cached_pool
    from core.rejection import choose_rule

    say("choosing the rejection rule on validation data")
    pool = cached_pool(VAL_POOL[0], VAL_POOL[1], seed=0, split="val", say=say)
    clean, clean_y = data.train_images[TRAIN_DIGITS:], data.train_labels[TRAIN_DIGITS:].astype(np.int64)
    out = {}
    for k, p in paths.items():
        session = inference.open_session(p)
        run = lambda imgs, s=session: s.run(None, {contract.INPUT_NAME: inference.to_model_input(imgs)})[0]  # noqa: E731
        out[k] = choose_rule(run(pool.images), pool.labels, run(clean), clean_y)
    return out


def wasm_unsupported(ops: list[str]) -> list[str]:
    """The op types in `ops` that onnxruntime-web's wasm backend is not known to run."""
    return [op for op in ops if op not in WASM_OPS]


def backends_disagree(c: dict) -> list[str]:
    """Why a contract cannot be shipped: a backend missing, or accuracies that differ between backends."""
    backends = (c.get("metrics") or {}).get("backends") or {}
    missing = [b for b in BACKENDS if b not in backends]
    if missing:
        return [f"not measured on {', '.join(missing)}"]
    accs = {b: backends[b]["test_accuracy"] for b in BACKENDS}
    return [] if len(set(accs.values())) == 1 else [f"backends differ: {accs}"]


def write_contract_checked(path: Path, c: dict) -> Path:
    """Write the contract beside `path`, then load both back through core.inference as a consumer would."""
    contract.write_contract(path, c)
    inference.load_model(path)
    return contract.contract_path(path)


def ship(model_path: Path, dest_dir: Path = ASSETS_DIR, weights: Path | None = None) -> Path:
    """Copy an exported model and its contract to `dest_dir` as model.onnx + model.json (the shipped model), and
    the run's torch weights as model.pt when given (what fine-tuning starts from).

    Refused (UserError) unless the contract shows the model portable: no integer sum that a CPU without VNNI
    could saturate, and the same accuracy on onnxruntime optimized, reference and onnxruntime-web in Chromium.
    model.onnx and model.json are replaced together, with the folder (core.storage.replace_dir_atomically).
    """
    from core.storage import replace_dir_atomically

    model_path = Path(model_path)
    c = contract.read_contract(model_path)
    problems = quantize.saturation_risks(model_path) + backends_disagree(c)
    if problems:
        raise UserError(f"{model_path.name} is not portable, not shipped: {'; '.join(problems)}")

    def put_pair(folder: Path) -> None:  # a staged copy of dest_dir; README.md, ladder.json ... stay as they are
        staged = folder / "model.onnx"
        atomic_write_bytes(staged, model_path.read_bytes())
        contract.write_contract(staged, c | {"model_file": staged.name, "exported_as": model_path.name})
        inference.load_model(staged)  # checked as a consumer loads it, before it replaces anything
        if weights is not None:
            load_model(weights)  # a readable network of this project, or a one-line error before anything moves
            atomic_write_bytes(folder / "model.pt", Path(weights).read_bytes())

    try:  # the pair changes in one step: a crash leaves the old pair or the new one, never a model with a
        replace_dir_atomically(Path(dest_dir), put_pair)  # contract that does not match it
    except OSError as e:
        raise UserError(f"cannot ship to {dest_dir}: {e.strerror or e}") from None
    return Path(dest_dir) / "model.onnx"


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


# --- CLI: python -m core export RUN_DIR ----------------------------------------------------------------


def export_args(p) -> None:
    p.add_argument("run_dir", type=Path, help="a `train cnn` run folder (holding model.pt or checkpoint.pt)")
    p.add_argument("--out", type=Path, default=None, help="where the .onnx files go (default: RUN_DIR/onnx)")
    p.add_argument("--ship", action="store_true", help="also copy the chosen int8 model to core/assets/ as model.onnx")
    p.add_argument("--no-browser", dest="browser", action="store_false",
                   help="skip the onnxruntime-web check in Chromium (the result cannot be shipped)")


def export_main(a) -> int:
    from core.data import load_mnist

    if a.ship and not a.browser:
        raise UserError("--ship needs the Chromium check; drop --no-browser")
    out = a.out or Path(a.run_dir) / "onnx"
    command = " ".join(["python -m core export", str(a.run_dir)] + (["--out", str(a.out)] if a.out else [])
                       + (["--ship"] if a.ship else []))
    summary = export_run(a.run_dir, out, load_mnist(), command, progress=lambda what: print(f"... {what}", flush=True),
                         browser=a.browser)
    print(f"torch vs onnxruntime (fp32): max |diff| {summary['torch_vs_ort_max_abs_diff']:.2e}")
    print(f"{'model':<14} {'onnxruntime':>11} {'reference':>9} {'Chromium':>9} {'drop pp':>8} {'size kB':>8} "
          f"{'1 image µs':>11} {'web µs':>7} {'opt vs ref':>17}  ops")
    for k, r in summary["models"].items():
        b, ovr = r["backends"], r["optimized_vs_reference"]
        web = b.get("onnxruntime_web_chromium")
        web_us = f"{web['latency_ms_1'] * 1e3:7.0f}" if web else "      -"
        cells = [f"{b[x]['test_accuracy'] * 100:8.2f} %" if x in b else "        -" for x in BACKENDS]
        print(f"{k:<14} {cells[0]:>11} {cells[1]:>9} {cells[2]:>9} {r['accuracy_drop_pp']:8.2f} "
              f"{r['size_bytes'] / 1000:8.1f} {r['latency_ms_1'] * 1e3:11.0f} "
              f"{web_us} "
              f"{ovr['argmax_agreement'] * 100:6.2f} % Δ{ovr['max_abs_logit_diff']:8.2g}  {' '.join(r['ops'])}")
        for problem in r["portability_problems"]:
            print(f"  not portable: {problem}")
    s = summary["shipping"]
    print(f"shipping {s['format']}: {s['reason']}")
    if a.ship:
        dest = ship(out / s["file"], weights=Path(a.run_dir) / "model.pt")
        print(f"copied {s['file']} and its contract to {dest} and {contract.contract_path(dest)}, the run's "
              f"weights to {dest.with_suffix('.pt')}")
    print(f"files in {out}")
    return 0
