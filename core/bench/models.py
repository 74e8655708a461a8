"""`python -m core bench models`: every model of the ladder measured the same way, in one run, side by side.

Softmax, NumPy MLP, PyTorch MLP, CNN fp32 / int8 dynamic / int8 static, the shipped model and the seed's
network quantized the way the seed did: test accuracy (onnxruntime, full 10k test set), parameters, file
size, single-image latency and batch-256 throughput (medians, interleaved, 1 ORT thread) and time to
train. Saved runs are read when given; anything missing is trained here with a short budget (and marked
so). Also the time the `default` CNN preset needs to first reach 99.0 % test accuracy, and the seed's
published figures. `--out core/assets/ladder.json` writes the committed results the dashboard's Home page shows.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core import cnn, cnn_train, contract, export, inference, numpy_train, quantize, torch_mlp
from core import numpy_nets as nn_np
from core.bundle import browser_logits
from core.data import MNIST
from core.errors import UserError
from core.export import export_onnx
from core.loop import EpochMetrics, EvalMetrics, Finished
from core.runtime import machine_info, set_threads
from core.storage import ASSETS_DIR, atomic_write_json, read_json, runs_dir

LADDER_PATH = ASSETS_DIR / "ladder.json"
SEED_PUBLISHED = {
    "name": "seed's published model", "test_accuracy": 0.9887, "size_bytes": 215_140, "params": 206_922,
    "note": "digit_brain.onnx of the seed project: its CNN quantized dynamically (ConvInteger/MatMulInteger)",
}
TARGET_99 = 0.99
INTEGER_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "ConvInteger", "MatMulInteger",
                         "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul"})
Say = Callable[[str], None]


# --- rows ------------------------------------------------------------------------------------------------


def _numpy_row(kind: str, run: Path | None, data: MNIST, epochs: int, threads: int | None, work: Path,
               say: Say) -> tuple[dict, Path]:
    """A softmax / NumPy MLP / torch MLP row, and its weights exported to ONNX (fp32) for onnxruntime."""

    if run is not None:
        params = numpy_train.load_weights(Path(run) / numpy_train.WEIGHTS_NAME)
        metrics = read_json(Path(run) / "metrics.json", "run metrics")
        source = str(run)
    else:
        say(f"training {kind} for {epochs} epoch(s)")
        cfg = (numpy_train.SoftmaxConfig(epochs=epochs, threads=threads) if kind == "softmax"
               else numpy_train.MLPConfig(epochs=epochs, threads=threads))
        trainer = torch_mlp.train if kind == "torch-mlp" else numpy_train.train
        fin = [r for r in trainer(cfg, data) if isinstance(r, Finished)][-1]
        params, metrics, source = fin.params, fin.metrics, f"trained here, {epochs} epoch(s)"
    onnx_path = export_onnx(torch_mlp.from_numpy(nn_np.tree_map(lambda a: a.astype(np.float32), params)),
                            work / f"{kind}.onnx")
    timings = metrics.get("timings") or {}
    row = {"params": nn_np.num_params(params), "train_seconds": timings.get("train_seconds"),
           "train_threads": timings.get("threads"), "epochs": metrics.get("epochs_completed"),
           "trained_accuracy": metrics.get("test_accuracy"), "source": source,
           "file_note": "fp32 ONNX of the weights"}
    return row, onnx_path


def _cnn_run(preset: str, run: Path | None, data: MNIST, epochs: int, threads: int | None, work: Path,
             say: Say) -> Path:
    """A trained CNN run folder: the one given, or one trained here for `epochs` epochs."""

    if run is not None:
        return Path(run)
    say(f"training the '{preset}' CNN for {epochs} epoch(s)")
    out = work / f"cnn-{preset}"
    out.mkdir(parents=True, exist_ok=True)
    for _ in cnn_train.train(cnn_train.preset_config(preset, epochs=epochs, threads=threads), data, out):
        pass
    return out


def _cnn_exports(run: Path, data: MNIST, work: Path, say: Say) -> dict:
    """The run's export.json summary: reused when RUN/onnx holds a complete export, else exported here."""

    out = run / "onnx"
    if (out / "export.json").exists() and all((out / f).exists() for f in export.FILES.values()):
        summary = read_json(out / "export.json", "export summary")
        summary["dir"] = str(out)
        return summary
    say(f"exporting {run}")
    out = work / f"{run.name}-onnx"
    summary = export.export_run(run, out, data, f"python -m core export {run}")
    summary["dir"] = str(out)
    return summary


def _seed_dynamic(run: Path, work: Path) -> Path:
    """The seed preset's network, exported and quantized dynamically exactly as the seed did."""

    model, _ = cnn.load_model(run, arch="seed")
    fp32 = export.export_onnx(model, work / "seed-preset.fp32.onnx")
    return quantize.quantize_dynamic_like_seed(fp32, work / "seed-preset.int8-dynamic.onnx")


def _with_contract(src: Path, dst: Path) -> Path:
    """A copy of an ONNX file without a contract (a bench's own export, the seed's file), given a minimal one
    that names its real input and output, so the web page can load it."""

    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(Path(src).read_bytes())
    session = inference.open_session(dst)
    c = contract.make_contract(dst, preprocess={}, metrics={})
    c["input"]["name"], c["output"]["name"] = session.get_inputs()[0].name, session.get_outputs()[0].name
    contract.write_contract(dst, c)
    return dst


def time_to_accuracy(data: MNIST, target: float = TARGET_99, epochs: int = 3, eval_every: int = 50,
                     threads: int | None = None, seed: int = 0) -> dict:
    """Train the `default` preset (schedule of `epochs` epochs) and stop when test accuracy first reaches `target`.

    The clock counts training compute only; each test-set evaluation is excluded.
    """

    cfg = cnn_train.preset_config("default", epochs=epochs, eval_every=eval_every, threads=threads, seed=seed)
    best: dict = {}
    gen = cnn_train.train(cfg, data)
    try:
        for rec in gen:
            if isinstance(rec, EvalMetrics | EpochMetrics):
                point = {"step": rec.step, "epoch": rec.epoch, "examples": rec.step * cfg.batch_size,
                         "test_accuracy": rec.test_accuracy, "train_seconds": rec.train_seconds,
                         "wall_seconds": rec.elapsed}
                if rec.test_accuracy > best.get("test_accuracy", -1):
                    best = point
                if rec.test_accuracy >= target:
                    return {"reached": True, "target": target, **point, "schedule_epochs": epochs,
                            "eval_every": eval_every, "threads": set_threads(cfg.threads),
                            "command": _t99_command(epochs, eval_every, threads)}
    finally:
        gen.close()
    return {"reached": False, "target": target, "best": best, "schedule_epochs": epochs, "eval_every": eval_every,
            "command": _t99_command(epochs, eval_every, threads)}


def _t99_command(epochs: int, eval_every: int, threads: int | None) -> str:
    """The CLI run that prints the same curve (its first 'step N: test acc >= 0.99' line)."""
    return f"python -m core train cnn --preset default --epochs {epochs} --eval-every {eval_every}" + (
        f" --threads {threads}" if threads else "")


# --- the benchmark -----------------------------------------------------------------------------------------


def _ladder_files(data: MNIST, runs: dict[str, Path | None], epochs: int, threads: int | None, work: Path,
                  shipped: Path, seed_onnx: Path | None, say: Say) -> tuple[dict[str, dict], dict[str, Path]]:
    """Every model of the ladder as an ONNX file, and its row (name, params, training figures, source)."""
    rows: dict[str, dict] = {}
    files: dict[str, Path] = {}
    for key, name in (("softmax", "softmax (NumPy)"), ("mlp", "MLP 784-256-10 (NumPy)"),
                      ("torch-mlp", "MLP 784-256-10 (PyTorch)")):
        row, files[key] = _numpy_row(key, runs.get(key), data, epochs, threads, work, say)
        rows[key] = {"name": name} | row

    def trained(run: Path, given: bool) -> dict:
        m = read_json(run / "metrics.json", "run metrics")
        t = m.get("timings") or {}
        return {"params": m.get("params"), "train_seconds": t.get("train_seconds"), "train_threads": t.get("threads"),
                "epochs": m.get("epochs_completed"), "trained_accuracy": m.get("test_accuracy"),
                "source": str(run) if given else f"trained here, {epochs} epoch(s)"}

    cnn_run = _cnn_run("default", runs.get("cnn"), data, epochs, threads, work, say)
    summary = _cnn_exports(cnn_run, data, work, say)
    for kind, name in ((export.FP32, "CNN default fp32"), (export.DYNAMIC, "CNN default int8 dynamic"),
                       (export.STATIC, "CNN default int8 static")):
        files[f"cnn-{kind}"] = Path(summary["dir"]) / export.FILES[kind]
        rows[f"cnn-{kind}"] = {"name": name, **trained(cnn_run, bool(runs.get("cnn"))),
                               "ops": summary["models"][kind]["ops"]}
    seed_run = _cnn_run("seed", runs.get("seed"), data, epochs, threads, work, say)
    files["seed-preset-dynamic"] = _seed_dynamic(seed_run, work)
    rows["seed-preset-dynamic"] = {"name": "seed's CNN, int8 dynamic (as the seed)",
                                   **trained(seed_run, bool(runs.get("seed")))}
    c = inference.load_model(shipped).contract
    files["shipped"] = shipped
    kind = Path(c.get("exported_as", "")).stem.replace("model.", "") or "?"
    rows["shipped"] = {"name": f"shipped model.onnx ({kind})", "params": (c.get("architecture") or {}).get("params"),
                       "train_seconds": (c.get("training_metrics") or {}).get("train_seconds"),
                       "source": str(shipped), "contract_accuracy": c["metrics"].get("test_accuracy")}
    if seed_onnx:
        files["seed-published"] = Path(seed_onnx)
        rows["seed-published"] = {"name": "seed's published digit_brain.onnx", "params": SEED_PUBLISHED["params"],
                                  "source": str(seed_onnx), "published_accuracy": SEED_PUBLISHED["test_accuracy"]}
    return rows, files


def _measure(rows: dict[str, dict], files: dict[str, Path], data: MNIST, work: Path, browser: bool, say: Say) -> None:
    """Fill each row: accuracy (and fused vs reference for int8 files), size, latency, latency in Chromium."""
    for key, path in files.items():
        say(f"accuracy of {key}, onnxruntime optimized and reference")
        both = quantize.optimized_vs_reference(path, data.test_images)
        rows[key]["test_accuracy"] = export.digit_accuracy(both["logits"]["optimized"], data.test_labels)
        rows[key]["size_bytes"] = path.stat().st_size
        if set(quantize.op_types(path)) & INTEGER_OPS:  # an int8 graph
            rows[key]["optimized_vs_reference"] = {
                "argmax_agreement": both["argmax_agreement"], "max_abs_logit_diff": both["max_abs_logit_diff"],
                "reference_test_accuracy": export.digit_accuracy(both["logits"]["reference"], data.test_labels),
                "saturation_risks": quantize.saturation_risks(path)}
    say("latency of every model (interleaved)")
    for key, lat in inference.latencies(files, data.test_images, rounds=21).items():
        rows[key] |= lat
    for key, path in files.items() if browser else ():
        say(f"latency of {key} in onnxruntime-web (Chromium)")
        if not contract.contract_path(path).exists():  # the web page reads a contract: a copy gets one
            path = _with_contract(path, work / "web" / f"{key}.onnx")
        rows[key]["wasm_latency_ms_1"] = browser_logits(path, data.test_images[:256])["latency_ms_1"]


def _targets(rows: dict[str, dict], shipped_contract: dict, t99: dict | None) -> dict:
    """The bars the shipped model must clear, each True/False (None: not measured in this run)."""
    shipped, seed = rows["shipped"], rows["seed-preset-dynamic"]
    ovr = shipped.get("optimized_vs_reference") or {}
    published = rows.get("seed-published")
    return {
        "shipped_accuracy_at_least_99.5": shipped["test_accuracy"] >= 0.995,
        "shipped_size_at_most_215140": shipped["size_bytes"] <= SEED_PUBLISHED["size_bytes"],
        "shipped_drop_at_most_0.1pp": (shipped_contract["metrics"].get("accuracy_drop_pp") or 0) <= export.MAX_DROP_PP,
        "shipped_latency_at_most_seed_dynamic": shipped["latency_ms_1"] <= seed["latency_ms_1"],
        "shipped_latency_at_most_seed_published": shipped["latency_ms_1"] <= published["latency_ms_1"]
        if published else None,
        "shipped_portable": bool(ovr) and not ovr["saturation_risks"] and ovr["argmax_agreement"] == 1.0,
        "default_reaches_99_in_60s": None if t99 is None else bool(t99["reached"] and t99["train_seconds"] < 60),
    }


def run_bench(data: MNIST, *, runs: dict[str, Path | None], epochs: int = 1, t99_epochs: int = 3,
              skip_t99: bool = False, seed_onnx: Path | None = None, threads: int | None = None,
              work: Path | None = None, shipped: Path | None = None, browser: bool = True,
              say: Say = lambda _w: None) -> dict:
    """Measure every model; `runs` maps softmax/mlp/torch-mlp/cnn/seed to a saved run folder or None (train here)."""
    shipped = Path(shipped) if shipped else inference.default_model_path()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(work) if work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows, files = _ladder_files(data, runs, epochs, threads, work, shipped, seed_onnx, say)
        _measure(rows, files, data, work, browser, say)
        t99 = None if skip_t99 else (say("time to 99 %") or time_to_accuracy(data, epochs=t99_epochs,
                                                                            threads=threads))
    shipped_row, seed_row = rows["shipped"], rows["seed-preset-dynamic"]
    return {
        "rows": list(rows.values()),
        "seed_published": SEED_PUBLISHED,
        "shipped_vs_seed_latency": {"shipped_ms": shipped_row["latency_ms_1"],
                                    "seed_preset_dynamic_ms": seed_row["latency_ms_1"],
                                    "ratio": shipped_row["latency_ms_1"] / seed_row["latency_ms_1"]},
        "time_to_99": t99,
        "targets": _targets(rows, inference.load_model(shipped).contract, t99),
        "settings": {"onnxruntime_threads": 1, "latency": "median of 21 interleaved rounds x 40 single-image runs",
                     "wasm_latency": "onnxruntime-web in headless Chromium (the web page's session), 1 thread, "
                                     "median over 30 groups of 50 single-image runs (its timer is coarsened to 0.1 ms)",
                     "optimized_vs_reference": "int8 files: onnxruntime with all graph optimizations vs none, "
                                               "all 10,000 test images",
                     "throughput": "256 / median time of one batch-256 run", "test_set": "MNIST test, 10,000 images",
                     "epochs_for_runs_trained_here": epochs},
        "machine": machine_info() | {"onnxruntime": export._ort_version()},
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def format_table(result: dict) -> str:
    """The rows as a fixed-width text table."""
    lines = [f"{'model':<42} {'test acc':>8} {'params':>8} {'file kB':>8} {'1 img µs':>9} {'b256 img/s':>10} "
             f"{'train s':>8} {'wasm µs':>8}"]
    for r in result["rows"]:
        ts, wasm = r.get("train_seconds"), r.get("wasm_latency_ms_1")
        lines.append(f"{r['name'][:42]:<42} {r['test_accuracy'] * 100:7.2f}% {r.get('params') or 0:8,} "
                     f"{r['size_bytes'] / 1000:8.1f} {r['latency_ms_1'] * 1e3:9.0f} {r['throughput_256_per_s']:10,.0f} "
                     f"{(f'{ts:8.1f}' if ts is not None else '       -')} "
                     f"{(f'{wasm * 1e3:8.0f}' if wasm is not None else '       -')}")
    s = result["seed_published"]
    lines.append(f"{'seed published (its README)':<42} {s['test_accuracy'] * 100:7.2f}% {s['params']:8,} "
                 f"{s['size_bytes'] / 1000:8.1f}")
    lines.append("int8 files, onnxruntime optimized (fused integer kernels) vs reference (no graph optimization), "
                 "10,000 test images:")
    for r in result["rows"]:
        o = r.get("optimized_vs_reference")
        if o:
            risk = "; could saturate without VNNI" if o["saturation_risks"] else ""
            lines.append(f"  {r['name'][:42]:<42} argmax agreement {o['argmax_agreement'] * 100:7.2f} %, "
                         f"max |logit Δ| {o['max_abs_logit_diff']:.3g}{risk}")
    return "\n".join(lines)


# --- CLI: python -m core bench models ------------------------------------------------------------------------


def bench_args(p) -> None:
    for key in ("softmax", "mlp", "torch-mlp", "cnn", "seed"):
        what = {"cnn": "`train cnn --preset default`", "seed": "`train cnn --preset seed`"}.get(key, f"`train {key}`")
        p.add_argument(f"--{key}-run", type=Path, default=None, metavar="DIR",
                       help=f"a saved {what} run (default: train one here for --epochs epochs)")
    p.add_argument("--epochs", type=int, default=1, help="epochs for the models trained here")
    p.add_argument("--t99-epochs", type=int, default=3, help="schedule length of the time-to-99 %% run")
    p.add_argument("--skip-t99", action="store_true", help="skip the time-to-99 %% measurement")
    p.add_argument("--seed-onnx", type=Path, default=None, help="the seed's digit_brain.onnx, to measure it too")
    p.add_argument("--threads", type=int, default=None, help="training threads (default: usable cores)")
    p.add_argument("--work", type=Path, default=None, help="keep the runs trained here in this folder")
    p.add_argument("--out", type=Path, default=None, help="JSON results (default: runs/bench/models.json)")


def bench_main(a) -> int:
    from core.data import load_mnist

    if a.epochs < 1 or a.t99_epochs < 1:
        raise UserError("--epochs and --t99-epochs must be >= 1")
    runs = {k: getattr(a, f"{k.replace('-', '_')}_run") for k in ("softmax", "mlp", "torch-mlp", "cnn", "seed")}
    t0 = time.perf_counter()
    result = run_bench(load_mnist(), runs=runs, epochs=a.epochs, t99_epochs=a.t99_epochs, skip_t99=a.skip_t99,
                       seed_onnx=a.seed_onnx, threads=a.threads, work=a.work,
                       say=lambda what: print(f"... {what}", flush=True))
    args = [f"--{k}-run {v}" for k, v in runs.items() if v] + [
        f"--{name.replace('_', '-')} {getattr(a, name)}" for name in ("epochs", "t99_epochs", "seed_onnx", "threads",
                                                                      "work", "out") if getattr(a, name)]
    result["command"] = " ".join(["python -m core bench models", *args] + (["--skip-t99"] if a.skip_t99 else []))
    result["bench_seconds"] = time.perf_counter() - t0
    out = a.out or runs_dir() / "bench" / "models.json"
    atomic_write_json(out, result)
    print(format_table(result))
    lat = result["shipped_vs_seed_latency"]
    print(f"single image: shipped {lat['shipped_ms'] * 1e3:.0f} µs vs the seed's CNN quantized as the seed did "
          f"{lat['seed_preset_dynamic_ms'] * 1e3:.0f} µs (same run, 1 thread)")
    t = result["time_to_99"]
    if t and t["reached"]:
        print(f"default preset first reached {t['test_accuracy'] * 100:.2f} % test accuracy after "
              f"{t['train_seconds']:.1f} s of training ({t['examples']:,} images, step {t['step']}, "
              f"{t['schedule_epochs']}-epoch schedule, {t['threads']} thread(s))")
    elif t:
        print(f"default preset did not reach 99.0 % in a {t['schedule_epochs']}-epoch schedule "
              f"(best {t['best'].get('test_accuracy', 0) * 100:.2f} %)")
    verdict = {True: "yes", False: "NO", None: "not measured"}
    print("targets: " + ", ".join(f"{k} {verdict[v]}" for k, v in result["targets"].items()))
    print(f"results written to {out}")
    return 0
