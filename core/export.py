"""Export a trained CNN to ONNX, check it, quantize it to 8 bits two ways, measure all three, pick one to ship.

As onnxruntime-inference-examples do it: torch -> ONNX (named input "image" / output "logits", dynamic
batch) -> onnx.checker -> onnxruntime vs torch logits -> quantize_dynamic (QUInt8, as the seed did) and
quantize_static (QDQ, calibrated on training images) -> accuracy, size and latency of each. Every
`.onnx` gets its contract JSON beside it (core.inference). BatchNorm is folded into the convolutions in
torch before export, so the graph is Conv-Relu-MaxPool-Gemm only.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core import inference
from core.cnn import CNN, load_model
from core.data import MNIST
from core.errors import UserError
from core.runtime import machine_info
from core.storage import ASSETS_DIR, REPO_ROOT, atomic_write_bytes, atomic_write_json, ensure_dir, read_json

OPSET = 18  # the torch.export-based exporter's lowest; onnxruntime-web 1.2x runs opsets up to 21
FP32, DYNAMIC, STATIC = "fp32", "int8-dynamic", "int8-static"
FILES = {FP32: "model.fp32.onnx", DYNAMIC: "model.int8-dynamic.onnx", STATIC: "model.int8-static.onnx"}
MAX_DROP_PP = 0.1  # an int8 model may lose at most this much test accuracy (percentage points) vs fp32
TORCH_TOL = 1e-4  # max |ORT - torch| on fp32 logits
CALIBRATION_IMAGES = 1000  # training images the static quantizer calibrates activation ranges on

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
            module, (x,), None, input_names=[inference.INPUT_NAME], output_names=[inference.OUTPUT_NAME],
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
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path} is not a valid ONNX model: {first[:200]}") from None
    inference.check_graph_io(model, path)
    return model


@torch.no_grad()
def torch_vs_ort(module: nn.Module, path: Path, images: np.ndarray) -> float:
    """Max |logits_torch - logits_ORT| over uint8 images (N,28,28), run as one batch and as single images."""
    x = (images.astype(np.float32) / 255.0)[:, None]  # (N,1,28,28)
    session = inference.open_session(path)
    ref = module.eval().cpu()(torch.from_numpy(x)).numpy()
    batch = session.run(None, {inference.INPUT_NAME: x})[0]
    single = np.concatenate([session.run(None, {inference.INPUT_NAME: x[i : i + 1]})[0] for i in range(3)])
    return float(max(np.abs(ref - batch).max(), np.abs(ref[:3] - single).max()))


# --- quantization -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_root_logger():
    """The quantizer logs advice (run pre-processing) on the root logger; the seed did not, so neither do we."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_dynamic_like_seed(fp32: Path, out: Path) -> Path:
    """Dynamic quantization as the seed did: uint8 per-tensor weights, activations quantized at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp, _quiet_root_logger():
        dst = Path(tmp) / out.name
        quantize_dynamic(str(fp32), str(dst), weight_type=QuantType.QUInt8, per_channel=False)
        return atomic_write_bytes(out, dst.read_bytes())


def calibration_reader(images: np.ndarray, n: int = CALIBRATION_IMAGES, batch: int = 100, seed: int = 0):
    """A CalibrationDataReader yielding `n` randomly chosen training images (uint8 (N,28,28)) in batches."""
    from onnxruntime.quantization import CalibrationDataReader

    idx = np.random.default_rng(seed).choice(len(images), size=min(n, len(images)), replace=False)
    x = (images[np.sort(idx)].astype(np.float32) / 255.0)[:, None]  # (n,1,28,28)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{inference.INPUT_NAME: x[i : i + batch]} for i in range(0, len(x), batch)])

        def get_next(self):
            return next(self.batches, None)

    return Reader()


def quantize_static_qdq(fp32: Path, out: Path, train_images: np.ndarray, per_channel: bool = True,
                        float_logits: bool = True) -> Path:
    """Static QDQ quantization: uint8 activations with ranges calibrated (min/max) on training images,
    int8 weights (per output channel by default). `float_logits` keeps the last layer (640 weights) in
    float, so the logits are not rounded to 256 levels."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quant_pre_process, quantize_static

    with tempfile.TemporaryDirectory() as tmp:
        pre, dst = Path(tmp) / "pre.onnx", Path(tmp) / out.name
        quant_pre_process(str(fp32), str(pre))  # shape inference + graph optimization, as the examples do
        last = [n.name for n in onnx.load(str(pre)).graph.node if inference.OUTPUT_NAME in n.output]
        quantize_static(
            str(pre), str(dst), calibration_reader(train_images), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=per_channel,
            calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=last if float_logits else None,
        )
        return atomic_write_bytes(out, dst.read_bytes())


def op_types(path: Path) -> list[str]:
    """Sorted distinct op types of a graph (domain-qualified when not the default ONNX domain)."""
    import onnx

    model = onnx.load(str(path))
    return sorted({(f"{n.domain}." if n.domain not in ("", "ai.onnx") else "") + n.op_type for n in model.graph.node})


def wasm_unsupported(ops: list[str]) -> list[str]:
    """The op types in `ops` that onnxruntime-web's wasm backend is not known to run."""
    return [op for op in ops if op not in WASM_OPS]


def quantized_weights(path: Path) -> list[dict]:
    """One row per quantized weight tensor of an int8 graph: name, shape, dtype, scale range, zero point(s)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {t.name: t for t in model.graph.initializer}
    rows = []
    for n in model.graph.node:
        if n.op_type == "DequantizeLinear":  # x, x_scale, x_zero_point
            wname, sname, zname = n.input[0], n.input[1], (list(n.input) + [""])[2]
        elif n.op_type in ("ConvInteger", "MatMulInteger"):  # a, b (the weight), a_zero_point, b_zero_point
            wname, zname = n.input[1], (list(n.input) + ["", "", ""])[3]
            sname = wname.replace("_quantized", "_scale")
        else:
            continue
        w = inits.get(wname)
        if w is None or w.data_type not in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8) or len(w.dims) < 2:
            continue  # activations and biases
        scale = numpy_helper.to_array(inits[sname]) if sname in inits else np.array([np.nan])
        zero = numpy_helper.to_array(inits[zname]) if zname in inits else np.array([0])
        rows.append({
            "tensor": wname, "shape": list(w.dims),
            "dtype": "int8" if w.data_type == onnx.TensorProto.INT8 else "uint8",
            "per_channel": bool(np.size(scale) > 1), "scale_min": float(np.min(scale)),
            "scale_max": float(np.max(scale)), "zero_points": sorted({int(z) for z in np.ravel(zero)})[:4],
        })
    return rows


# --- onnxruntime-web (wasm) -------------------------------------------------------------------------------

ORT_WEB_DIR = REPO_ROOT / "web" / "node_modules" / "onnxruntime-web"  # installed by the web/ package.json
_WASM_SCRIPT = r"""const path = require('path'), fs = require('fs');
const [dir, input, n, ...models] = process.argv.slice(2);
const ort = require(path.join(dir, 'dist', 'ort.node.min.js'));
(async () => {
  ort.env.wasm.numThreads = 1;
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const N = parseInt(n), result = [];
  const sessions = [];
  for (const m of models) {
    const sess = await ort.InferenceSession.create(fs.readFileSync(m), {executionProviders: ['wasm']});
    const name = sess.inputNames[0];
    const out = await sess.run({[name]: new ort.Tensor('float32', data, [N, 1, 28, 28])});
    const one = {[name]: new ort.Tensor('float32', data.slice(0, 784), [1, 1, 28, 28])};
    for (let i = 0; i < 50; i++) await sess.run(one);
    sessions.push({sess, one, times: []});
    result.push({logits: Array.from(out[sess.outputNames[0]].data)});
  }
  for (let round = 0; round < 15; round++) {  // interleaved, so load changes hit every model alike
    for (const s of sessions) {
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        await s.sess.run(s.one);
        s.times.push(performance.now() - t);
      }
    }
  }
  sessions.forEach((s, i) => { s.times.sort((a, b) => a - b); result[i].ms1 = s.times[s.times.length >> 1]; });
  process.stdout.write(JSON.stringify(result));
})().catch(e => { process.stderr.write(String(e && e.message || e)); process.exit(1); });
"""


def wasm_run(paths: dict[str, Path], images: np.ndarray, ort_web: Path = ORT_WEB_DIR) -> dict[str, dict] | None:
    """Run the models in onnxruntime-web's wasm backend under Node (one process, timed in interleaved rounds):
    max |logits - native ORT|, argmax agreement, single-image latency (ms, 1 thread). None when node or
    onnxruntime-web is not installed; {"ok": False, "error": ...} for each model when the run fails."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None or not (Path(ort_web) / "dist" / "ort.node.min.js").exists():
        return None
    x = (images.astype(np.float32) / 255.0)[:, None]  # (N,1,28,28)
    with tempfile.TemporaryDirectory() as tmp:
        script, data = Path(tmp) / "run.cjs", Path(tmp) / "x.f32"
        script.write_text(_WASM_SCRIPT)
        x.tofile(data)
        run = subprocess.run([node, str(script), str(Path(ort_web).resolve()), str(data), str(len(x)),
                              *[str(p) for p in paths.values()]], capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        error = (run.stderr.strip().splitlines() or ["node failed"])[-1][:300]
        return {k: {"ok": False, "error": error} for k in paths}
    results = {}
    for (k, p), out in zip(paths.items(), json.loads(run.stdout), strict=True):
        z = np.asarray(out["logits"], np.float32).reshape(len(x), -1)
        session = inference.open_session(p)
        ref = session.run(None, {session.get_inputs()[0].name: x})[0]
        results[k] = {"ok": True, "max_abs_diff_vs_native": float(np.abs(z - ref).max()),
                      "argmax_agreement": float((z.argmax(1) == ref.argmax(1)).mean()),
                      "latency_ms_1": float(out["ms1"])}
    return results


# --- measurement --------------------------------------------------------------------------------------


def ort_accuracy(path: Path, images: np.ndarray, labels: np.ndarray, chunk: int = 1000) -> float:
    """Test accuracy of an ONNX model through onnxruntime (its own input name), uint8 images (N,28,28)."""
    session = inference.open_session(path)
    name = session.get_inputs()[0].name
    correct = 0
    for i in range(0, len(labels), chunk):
        x = (images[i : i + chunk].astype(np.float32) / 255.0)[:, None]
        correct += int((session.run(None, {name: x})[0].argmax(1) == labels[i : i + chunk]).sum())
    return correct / len(labels)


def latencies(paths: dict[str, Path], images: np.ndarray, rounds: int = 15, per_round: int = 40) -> dict[str, dict]:
    """Median single-image latency (ms) and batch-256 throughput (images/s) of each model, 1 ORT thread.

    The models are timed in interleaved rounds, so a noisy neighbour on a shared CPU hits all of them alike.
    """
    sessions = {k: inference.open_session(p) for k, p in paths.items()}
    names = {k: s.get_inputs()[0].name for k, s in sessions.items()}
    x1 = (images[:1].astype(np.float32) / 255.0)[:, None]
    x256 = (np.resize(images, (256, 28, 28)).astype(np.float32) / 255.0)[:, None]
    one: dict[str, list[float]] = {k: [] for k in sessions}
    big: dict[str, list[float]] = {k: [] for k in sessions}
    for k, s in sessions.items():  # warm up
        for _ in range(20):
            s.run(None, {names[k]: x1})
        s.run(None, {names[k]: x256})
    for _ in range(rounds):
        for k, s in sessions.items():
            for _ in range(per_round):
                t = time.perf_counter()
                s.run(None, {names[k]: x1})
                one[k].append(time.perf_counter() - t)
            t = time.perf_counter()
            s.run(None, {names[k]: x256})
            big[k].append(time.perf_counter() - t)
    return {k: {"latency_ms_1": float(np.median(one[k]) * 1e3), "throughput_256_per_s": float(256 / np.median(big[k]))}
            for k in sessions}


def choose_shipping(rows: dict[str, dict]) -> tuple[str, str]:
    """(format, reason): the fastest single-image int8 model among those within MAX_DROP_PP of fp32."""
    fp32 = rows[FP32]["test_accuracy"]
    ok = {k: r for k, r in rows.items() if k != FP32 and (fp32 - r["test_accuracy"]) * 100 <= MAX_DROP_PP + 1e-9}
    figures = "; ".join(f"{k}: {r['test_accuracy'] * 100:.2f} %, {r['latency_ms_1'] * 1e3:.0f} µs, "
                        f"{r['size_bytes'] / 1000:.1f} kB" for k, r in rows.items())
    if not ok:
        best = max((k for k in rows if k != FP32), key=lambda k: rows[k]["test_accuracy"])
        return best, f"no int8 model stays within {MAX_DROP_PP} pp of fp32; shipped the most accurate ({figures})"
    best = min(ok, key=lambda k: (rows[k]["latency_ms_1"], rows[k]["size_bytes"]))
    return best, (f"both int8 formats measured; {best} is the fastest for one image among those within "
                  f"{MAX_DROP_PP} pp of fp32 ({figures})")


# --- the pipeline -------------------------------------------------------------------------------------


def export_run(run_dir: Path, out_dir: Path, data: MNIST, export_command: str = "", progress=None) -> dict:
    """Export, check, quantize (dynamic and static), measure and write contracts; returns the summary."""
    say = progress or (lambda _what: None)
    run_dir, out_dir = Path(run_dir), ensure_dir(Path(out_dir))
    model, _ = load_model(run_dir)
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
    quantize_dynamic_like_seed(paths[FP32], paths[DYNAMIC])
    say(f"quantizing (static QDQ, calibrated on {CALIBRATION_IMAGES} training images)")
    quantize_static_qdq(paths[FP32], paths[STATIC], data.train_images)

    rows: dict[str, dict] = {}
    for k, p in paths.items():
        say(f"measuring {k} accuracy")
        check_onnx(p)
        ops = op_types(p)
        rows[k] = {"file": p.name, "size_bytes": p.stat().st_size,
                   "test_accuracy": ort_accuracy(p, data.test_images, data.test_labels),
                   "ops": ops, "wasm_unsupported_ops": wasm_unsupported(ops)}
    say("measuring latency")
    for k, lat in latencies(paths, data.test_images).items():
        rows[k] |= lat
    for r in rows.values():
        r["accuracy_drop_pp"] = round((rows[FP32]["test_accuracy"] - r["test_accuracy"]) * 100, 4)
    say("running each model in onnxruntime-web (wasm, Node)")
    wasm = wasm_run(paths, data.test_images[:1000])
    for k, r in rows.items():
        r["wasm"] = wasm[k] if wasm else {"ok": None, "note": f"node or {ORT_WEB_DIR} not available; not run"}
    ship, reason = choose_shipping(rows)

    quant = {
        FP32: {"method": "none", "batchnorm": "folded into the convolutions"},
        DYNAMIC: {"method": "onnxruntime quantize_dynamic", "weights": "uint8, per tensor",
                  "activations": "uint8, quantized at run time (DynamicQuantizeLinear)", "as": "the seed"},
        STATIC: {"method": "onnxruntime quantize_static, QDQ format", "weights": "int8, per output channel",
                 "activations": "uint8, ranges calibrated by min/max",
                 "calibration": f"{CALIBRATION_IMAGES} random MNIST training images (seed 0)",
                 "float": "the last layer (64x10 weights), so the logits are not rounded to 256 levels"},
    }
    arch = {"name": model.arch, "params": sum(p.numel() for p in model.parameters()),
            "layers": [type(m).__name__ for m in list(model.features) + list(model.classifier)]}
    for k, p in paths.items():
        contract = inference.make_contract(
            p, preprocess=inference.default_preprocess(),
            metrics={"test_accuracy": rows[k]["test_accuracy"], "test_set": "MNIST test, 10,000 images",
                     "fp32_test_accuracy": rows[FP32]["test_accuracy"], "accuracy_drop_pp": rows[k]["accuracy_drop_pp"],
                     "latency_ms_1": rows[k]["latency_ms_1"], "throughput_256_per_s": rows[k]["throughput_256_per_s"],
                     "ort_threads": 1, "onnxruntime": _ort_version(), "machine": machine_info()},
            extra={"architecture": arch, "quantization": quant[k], "opset": OPSET, "ops": rows[k]["ops"],
                   "wasm_ops_supported": not rows[k]["wasm_unsupported_ops"], "wasm_check": rows[k]["wasm"],
                   "training_command": run_metrics.get("command", ""), "export_command": export_command,
                   "training_metrics": {"test_accuracy_torch": run_metrics.get("test_accuracy"),
                                        "train_seconds": (run_metrics.get("timings") or {}).get("train_seconds"),
                                        "threads": (run_metrics.get("timings") or {}).get("threads")}},
        )
        write_contract_checked(p, contract)
    summary = {"run_dir": str(run_dir), "torch_vs_ort_max_abs_diff": diff, "models": rows,
               "shipping": {"format": ship, "file": FILES[ship], "reason": reason},
               "training_command": run_metrics.get("command", ""), "export_command": export_command}
    atomic_write_json(out_dir / "export.json", summary)
    return summary


def write_contract_checked(path: Path, contract: dict) -> Path:
    """Write the contract beside `path`, then load both back through core.inference as a consumer would."""
    inference.write_contract(path, contract)
    inference.load_model(path)
    return inference.contract_path(path)


def ship(model_path: Path, dest_dir: Path = ASSETS_DIR) -> Path:
    """Copy an exported model and its contract to `dest_dir` as model.onnx + model.json (the shipped model)."""
    model_path = Path(model_path)
    contract = inference.read_contract(model_path)
    dest = ensure_dir(dest_dir) / "model.onnx"
    atomic_write_bytes(dest, model_path.read_bytes())
    contract = contract | {"model_file": dest.name, "exported_as": model_path.name}
    inference.write_contract(dest, contract)
    inference.load_model(dest)
    return dest


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


# --- CLI: python -m core export RUN_DIR ----------------------------------------------------------------


def export_args(p) -> None:
    p.add_argument("run_dir", type=Path, help="a `train cnn` run folder (holding model.pt or checkpoint.pt)")
    p.add_argument("--out", type=Path, default=None, help="where the .onnx files go (default: RUN_DIR/onnx)")
    p.add_argument("--ship", action="store_true", help="also copy the chosen int8 model to core/assets/ as model.onnx")


def export_main(a) -> int:
    from core.data import load_mnist

    out = a.out or Path(a.run_dir) / "onnx"
    command = " ".join(["python -m core export", str(a.run_dir)] + (["--out", str(a.out)] if a.out else [])
                       + (["--ship"] if a.ship else []))
    summary = export_run(a.run_dir, out, load_mnist(), command, progress=lambda what: print(f"... {what}", flush=True))
    print(f"torch vs onnxruntime (fp32): max |diff| {summary['torch_vs_ort_max_abs_diff']:.2e}")
    print(f"{'model':<14} {'test acc':>9} {'drop pp':>8} {'size kB':>8} {'1 image µs':>11} "
          f"{'batch 256 img/s':>16}  ops")
    for k, r in summary["models"].items():
        flag = "" if not r["wasm_unsupported_ops"] else f"  NOT in wasm: {r['wasm_unsupported_ops']}"
        w = r["wasm"]
        flag += (f"  | wasm: {w['latency_ms_1'] * 1e3:.0f} µs, max |diff| {w['max_abs_diff_vs_native']:.1e}"
                 if w.get("ok") else f"  | wasm: {w.get('error') or w.get('note')}")
        print(f"{k:<14} {r['test_accuracy'] * 100:8.2f}% {r['accuracy_drop_pp']:8.2f} {r['size_bytes'] / 1000:8.1f} "
              f"{r['latency_ms_1'] * 1e3:11.0f} {r['throughput_256_per_s']:16,.0f}  {' '.join(r['ops'])}{flag}")
    s = summary["shipping"]
    print(f"shipping {s['format']}: {s['reason']}")
    if a.ship:
        dest = ship(out / s["file"])
        print(f"copied {s['file']} and its contract to {dest} and {inference.contract_path(dest)}")
    print(f"files in {out}")
    return 0
