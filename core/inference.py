"""The model contract and onnxruntime sessions: every consumer (predict, dashboard, web) loads models here.

Contract: a JSON file beside each `.onnx` (`model.onnx` -> `model.json`) naming the input and output,
their shapes, the input scaling and the preprocessing parameters the model expects, plus the model's
measured accuracy, size and SHA-256. The input is float32 (N,1,28,28) in [0,1], white ink on black,
MNIST-framed; any normalization happens inside the graph, so consumers never rescale.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.errors import UserError, check_array
from core.storage import ASSETS_DIR, atomic_write_json, read_json

CONTRACT_FORMAT = "digit-inference-engine/model-contract"
CONTRACT_VERSION = 1
INPUT_NAME, OUTPUT_NAME = "image", "logits"


def default_model_path() -> Path:
    """The shipped int8 model, committed in core/assets/."""
    return ASSETS_DIR / "model.onnx"


def contract_path(model_path: Path) -> Path:
    return Path(model_path).with_suffix(".json")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def default_preprocess() -> dict:
    """The camera preprocessing parameters for a contract: core.preprocess's defaults ({} until it exists)."""
    try:
        from core.preprocess import PreprocessConfig
    except ImportError:
        return {}
    return asdict(PreprocessConfig())


def _dims(value_info) -> list:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_param or (d.dim_value if d.HasField("dim_value") else None) for d in dims]


def check_graph_io(model, path: Path) -> None:
    """One-line UserError unless an onnx.ModelProto takes "image" float32 (N,1,28,28) and gives "logits" (N,10)."""
    import onnx

    inits = {t.name for t in model.graph.initializer}
    ins = [i for i in model.graph.input if i.name not in inits]
    outs = list(model.graph.output)
    io_names = f"{[i.name for i in ins]} -> {[o.name for o in outs]}"
    if len(ins) != 1 or ins[0].name != INPUT_NAME or not outs or outs[0].name != OUTPUT_NAME:
        raise UserError(f"{Path(path).name}: graph input/output {io_names} are not '{INPUT_NAME}' -> '{OUTPUT_NAME}'")
    if ins[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT or _dims(ins[0])[1:] != [1, 28, 28]:
        raise UserError(f"{Path(path).name}: input '{INPUT_NAME}' has shape {_dims(ins[0])}, not float32 (N,1,28,28)")
    if len(_dims(outs[0])) != 2 or _dims(outs[0])[1] != 10:
        raise UserError(f"{Path(path).name}: output '{OUTPUT_NAME}' has shape {_dims(outs[0])}, not (N,10)")


def make_contract(model_path: Path, *, preprocess: dict, metrics: dict, extra: dict | None = None) -> dict:
    """Build the contract for an exported model file (size and digest read from the file)."""
    model_path = Path(model_path)
    return {
        "format": CONTRACT_FORMAT,
        "version": CONTRACT_VERSION,
        "model_file": model_path.name,
        "sha256": sha256_file(model_path),
        "size_bytes": model_path.stat().st_size,
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", 1, 28, 28],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "polarity": "white ink on black background, MNIST-framed (20x20 box, centre of mass at centre)",
        },
        "output": {"name": OUTPUT_NAME, "shape": ["batch", 10], "dtype": "float32", "kind": "logits"},
        "labels": list(range(10)),
        "preprocess": preprocess,
        "metrics": metrics,
        **(extra or {}),
    }


def write_contract(model_path: Path, contract: dict) -> Path:
    return atomic_write_json(contract_path(model_path), contract)


def read_contract(model_path: Path) -> dict:
    """Read and check the contract beside `model_path` (format, version, digest of the model file)."""
    path = contract_path(model_path)
    c = read_json(path, "model contract")
    if c.get("format") != CONTRACT_FORMAT or c.get("version") != CONTRACT_VERSION:
        raise UserError(f"{path} is not a version-{CONTRACT_VERSION} model contract of this project")
    for key in ("sha256", "input", "output", "preprocess"):
        if key not in c:
            raise UserError(f"model contract {path} lacks '{key}'")
    if sha256_file(model_path) != c["sha256"]:
        raise UserError(f"{model_path} does not match its contract {path.name} (SHA-256 differs)")
    return c


@dataclass(frozen=True)
class OnnxModel:
    """An onnxruntime session plus its contract."""

    path: Path
    contract: dict
    session: object  # onnxruntime.InferenceSession

    def logits(self, images: np.ndarray) -> np.ndarray:
        """(N,28,28) or (N,1,28,28) float32 in [0,1] -> (N,10) logits."""
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
        z = self.logits(images).astype(np.float64)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


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
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{model_path} is not a loadable ONNX model: {first[:200]}") from None


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
    if len(out_shape) != 2 or out_shape[1] != 10:
        raise UserError(f"{p.name}: graph output shape {out_shape} does not match the contract's (N,10)")
    return OnnxModel(path=p, contract=contract, session=session)
