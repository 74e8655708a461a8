"""onnxruntime sessions over a model and its contract (core.contract): every consumer loads models here.

`load_model` checks the contract, opens a CPU session and checks the graph's input and output against the
contract; `OnnxModel` turns images into logits and probabilities. Also the measurements every benchmark
and the export share: accuracy over a set, single-image latency and batch throughput.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.contract import INPUT_NAME, OUTPUT_NAME, contract_path, read_contract
from core.errors import UserError, check_array, first_line
from core.numpy_nets import softmax
from core.storage import ASSETS_DIR

CLASS_COUNTS = (10, 11)  # ten digits, or ten digits and "not a digit"
NOT_A_DIGIT, NOT_SURE = "not a digit", "not sure"


def default_model_path() -> Path:
    """The shipped int8 model, committed in core/assets/."""
    return ASSETS_DIR / "model.onnx"


def _dims(value_info) -> list:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_param or (d.dim_value if d.HasField("dim_value") else None) for d in dims]


def check_graph_io(model, path: Path) -> None:
    """One-line UserError unless an onnx.ModelProto takes "image" float32 (N,1,28,28) and gives "logits" (N,10)
    (ten digits) or (N,11) (ten digits and "not a digit")."""
    import onnx

    inits = {t.name for t in model.graph.initializer}
    ins = [i for i in model.graph.input if i.name not in inits]
    outs = list(model.graph.output)
    io_names = f"{[i.name for i in ins]} -> {[o.name for o in outs]}"
    if len(ins) != 1 or ins[0].name != INPUT_NAME or not outs or outs[0].name != OUTPUT_NAME:
        raise UserError(f"{Path(path).name}: graph input/output {io_names} are not '{INPUT_NAME}' -> '{OUTPUT_NAME}'")
    if ins[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT or _dims(ins[0])[1:] != [1, 28, 28]:
        raise UserError(f"{Path(path).name}: input '{INPUT_NAME}' has shape {_dims(ins[0])}, not float32 (N,1,28,28)")
    if len(_dims(outs[0])) != 2 or _dims(outs[0])[1] not in CLASS_COUNTS:
        raise UserError(f"{Path(path).name}: output '{OUTPUT_NAME}' has shape {_dims(outs[0])}, not (N,10) or (N,11)")


@dataclass(frozen=True)
class Answer:
    """What the model says about one input, after the contract's rejection rule (`decide`)."""

    digit: int | None  # the digit read, or None: not a digit, or not sure
    confidence: float  # the probability of `digit` (of the most likely digit when there is none)
    probabilities: np.ndarray  # (10,) probability of each digit (with an 11th class they sum to 1 - none)
    none_probability: float  # probability of "not a digit" (0 for a ten-class model)
    reason: str | None  # None when a digit is read, else NOT_A_DIGIT or NOT_SURE


def decide(logits: np.ndarray, rejection: dict | None) -> list[Answer]:
    """(N,10) or (N,11) logits -> one Answer each, by the contract's "rejection" rule (core.contract):
    softmax of logits / temperature; "not a digit" when the none class is the most likely, "not sure" when the
    best digit's probability is under min_confidence. Without a rule, the best digit is always the answer."""
    rule = rejection or {}
    p = softmax(np.asarray(logits, np.float64) / float(rule.get("temperature", 1.0)))  # (N,K)
    none = rule.get("none_class")
    out = []
    for row in p:
        digits = row[:10].astype(np.float32)  # what consumers show: confidence is one of these, exactly
        d = int(digits.argmax())
        p_none = float(row[none]) if none is not None else 0.0
        if none is not None and int(row.argmax()) == none:
            reason = NOT_A_DIGIT
        elif digits[d] < rule.get("min_confidence", 0.0):
            reason = NOT_SURE
        else:
            reason = None
        out.append(Answer(None if reason else d, float(digits[d]), digits, p_none, reason))
    return out


@dataclass(frozen=True)
class OnnxModel:
    """An onnxruntime session plus its contract."""

    path: Path
    contract: dict
    session: object  # onnxruntime.InferenceSession

    def logits(self, images: np.ndarray) -> np.ndarray:
        """(N,28,28) or (N,1,28,28) float32 in [0,1] -> (N,K) logits (K = 10 or 11, see `answers`)."""
        x = check_array(images, "images", kinds="f")
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
            raise UserError(f"images: shape {images.shape} is not (N,28,28) or (N,1,28,28)")
        if x.size and (x.min() < 0 or x.max() > 1):
            raise UserError("images: values must lie in [0, 1]")
        name_in = self.contract["input"]["name"]
        return self.session.run(None, {name_in: np.ascontiguousarray(x, dtype=np.float32)})[0]

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(N,28,28) or (N,1,28,28) float32 in [0,1] -> (N,K) softmax of the logits (K = 10 or 11 classes)."""
        return softmax(self.logits(images).astype(np.float64)).astype(np.float32)

    def answers(self, images: np.ndarray) -> list[Answer]:
        """(N,28,28) or (N,1,28,28) float32 in [0,1] -> what the model says of each, by its contract's rule."""
        return decide(self.logits(images), self.contract.get("rejection"))


def to_model_input(images: np.ndarray) -> np.ndarray:
    """MNIST-style uint8 images (N,28,28) -> the model's input (N,1,28,28) float32 in [0,1]."""
    return (np.asarray(images, np.float32) / 255.0)[:, None]


def open_session(model_path: Path, threads: int = 1, optimized: bool = True):
    """An onnxruntime CPU session, or a one-line UserError if the file is not a usable ONNX model.

    optimized=False turns every graph optimization off: QDQ pairs then stay float math (the reference the
    fused integer kernels are compared with, see core.quantize).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if not optimized:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model_path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for every parse failure
        raise UserError(f"{model_path} is not a loadable ONNX model: {first_line(e)}") from None


def load_model(model_path: Path | None = None, threads: int = 1) -> OnnxModel:
    """Load a model and its contract, checking that the graph's input/output match the contract."""
    path = Path(model_path) if model_path else default_model_path()
    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    st = path.stat()
    try:
        cst = contract_path(path).stat()
    except FileNotFoundError:
        raise UserError(f"model contract not found: {contract_path(path)} (every .onnx needs its .json)") from None
    key = (st.st_mtime_ns, st.st_size, cst.st_mtime_ns, cst.st_size)  # a rewritten contract is re-read
    return _load_cached(str(path.resolve()), key, threads)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, _stamp: tuple, threads: int) -> OnnxModel:
    p = Path(path)
    contract = read_contract(p)
    session = open_session(p, threads)
    ins, outs = session.get_inputs(), session.get_outputs()
    want_in, want_out = contract["input"]["name"], contract["output"]["name"]
    if len(ins) != 1 or ins[0].name != want_in or len(outs) < 1 or outs[0].name != want_out:
        raise UserError(
            f"{p.name}: graph input/output ({[i.name for i in ins]} -> {[o.name for o in outs]}) "
            f"do not match the contract ({want_in} -> {want_out})"
        )
    shape, out_shape = ins[0].shape, outs[0].shape
    if len(shape) != 4 or list(shape[1:]) != [1, 28, 28] or ins[0].type != "tensor(float)":
        raise UserError(f"{p.name}: graph input {ins[0].type} of shape {shape} does not match the contract's "
                        "float32 (N,1,28,28)")
    classes = len(contract.get("labels") or range(10))
    if len(out_shape) != 2 or out_shape[1] != classes:
        raise UserError(f"{p.name}: graph output shape {out_shape} does not match the contract's (N,{classes})")
    rule = contract.get("rejection")
    if rule is not None and rule.get("none_class") is not None and rule["none_class"] != classes - 1:
        raise UserError(f"{p.name}: the contract's rejection class {rule['none_class']} is not its last label")
    return OnnxModel(path=p, contract=contract, session=session)


# --- measurements shared by the export and the benchmarks ----------------------------------------------------


def accuracy(path: Path, images: np.ndarray, labels: np.ndarray, chunk: int = 1000) -> float:
    """Test accuracy of an ONNX model through onnxruntime (its own input name), uint8 images (N,28,28)."""
    session = open_session(path)
    name = session.get_inputs()[0].name
    x = to_model_input(images)
    correct = sum(int((session.run(None, {name: x[i : i + chunk]})[0][:, :10].argmax(1) == labels[i : i + chunk]).sum())
                  for i in range(0, len(labels), chunk))  # the best digit: no rejection
    return correct / len(labels)


def latencies(paths: dict[str, Path], images: np.ndarray, rounds: int = 15, per_round: int = 40) -> dict[str, dict]:
    """Median single-image latency (ms) and batch-256 throughput (images/s) of each model, 1 ORT thread.

    The models are timed in interleaved rounds, so a noisy neighbour on a shared CPU hits all of them alike.
    """
    sessions = {k: open_session(p) for k, p in paths.items()}
    names = {k: s.get_inputs()[0].name for k, s in sessions.items()}
    x1 = to_model_input(images[:1])
    x256 = to_model_input(np.resize(images, (256, 28, 28)))
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
