"""8-bit quantization of an exported fp32 graph, and the checks that make an int8 graph portable across CPUs.

Two formats, as onnxruntime-inference-examples do it: dynamic (uint8 weights, activations quantized at run
time, as the seed did) and static QDQ (uint8 activations calibrated on training images, int8 weights per
output channel). Static weights use **7 bits** (`reduce_range`): onnxruntime fuses QDQ pairs into integer
kernels, and on x86 CPUs without VNNI the uint8 x int8 kernel (VPMADDUBSW) adds two products in a signed
16-bit register, which saturates when 255 * (|w1| + |w2|) > 32767. With |w| <= 64 it never can
(255 * 128 = 32640), so every CPU computes the same integers. `saturation_risks` checks that statically
(it fails on every machine, VNNI or not) and `optimized_vs_reference` compares onnxruntime's fused
kernels with its unfused reference math on real images.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import numpy as np

from core import contract, inference
from core.storage import atomic_write_bytes

CALIBRATION_IMAGES = 1000  # training images the static quantizer calibrates activation ranges on
INT16_MAX = 32767  # the u8 x s8 pair sum of VPMADDUBSW (AVX2/AVX-512 without VNNI) saturates above this
U8_MAX = 255


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
    x = inference.to_model_input(images[np.sort(idx)])  # (n,1,28,28)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{contract.INPUT_NAME: x[i : i + batch]} for i in range(0, len(x), batch)])

        def get_next(self):
            return next(self.batches, None)

    return Reader()


def quantize_static_qdq(fp32: Path, out: Path, train_images: np.ndarray) -> Path:
    """Static QDQ: uint8 activations calibrated (min/max) on training images, 7-bit int8 weights per output
    channel (no CPU can saturate them), the last layer kept in float so the logits are not rounded."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quant_pre_process, quantize_static

    with tempfile.TemporaryDirectory() as tmp:
        pre, dst = Path(tmp) / "pre.onnx", Path(tmp) / out.name
        quant_pre_process(str(fp32), str(pre))  # shape inference + graph optimization, as the examples do
        last = [n.name for n in onnx.load(str(pre)).graph.node if contract.OUTPUT_NAME in n.output]
        quantize_static(
            str(pre), str(dst), calibration_reader(train_images), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
            calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=last,
        )
        return atomic_write_bytes(out, dst.read_bytes())


# --- what an int8 graph holds --------------------------------------------------------------------------------


def op_types(path: Path) -> list[str]:
    """Sorted distinct op types of a graph (domain-qualified when not the default ONNX domain)."""
    import onnx

    model = onnx.load(str(path))
    return sorted({(f"{n.domain}." if n.domain not in ("", "ai.onnx") else "") + n.op_type for n in model.graph.node})


def _integer_layers(model) -> list[dict]:
    """Each Conv/Gemm/MatMul onnxruntime may run on integers: its zero-point-free integer weights, their type and
    the activations' type. QDQ: DequantizeLinear of an int8/uint8 initializer feeds both inputs of the op;
    dynamic: ConvInteger/MatMulInteger (activations are uint8 there)."""
    import onnx
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    dq_of = {n.output[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}
    int_types = {onnx.TensorProto.INT8: "int8", onnx.TensorProto.UINT8: "uint8"}

    def int_type(name: str) -> str | None:
        t = inits.get(name)
        return int_types.get(t.data_type) if t is not None else None

    def weight(name: str, zp_name: str, axis: int) -> np.ndarray:
        w = numpy_helper.to_array(inits[name]).astype(np.int64)
        zp = numpy_helper.to_array(inits[zp_name]).astype(np.int64) if zp_name in inits else np.zeros(())
        if zp.ndim:  # per channel: one zero point along `axis`
            zp = zp.reshape([-1 if d == axis % w.ndim else 1 for d in range(w.ndim)])
        return w - zp

    layers = []
    for n in model.graph.node:
        if n.op_type in ("Conv", "Gemm", "MatMul") and n.input[1] in dq_of and n.input[0] in dq_of:
            w_dq, x_dq = dq_of[n.input[1]], dq_of[n.input[0]]
            wt = int_type(w_dq.input[0])
            if wt is None:
                continue  # a float layer
            axis = next((a.i for a in w_dq.attribute if a.name == "axis"), 1)
            w = weight(w_dq.input[0], (list(w_dq.input) + ["", ""])[2], axis)
            act = int_type((list(x_dq.input) + ["", ""])[2]) or "uint8"
        elif n.op_type in ("ConvInteger", "MatMulInteger") and int_type(n.input[1]):
            wt, act = int_type(n.input[1]), "uint8"
            w = weight(n.input[1], (list(n.input) + ["", "", "", ""])[3], 0 if n.op_type == "ConvInteger" else 1)
        else:
            continue
        layers.append({"name": n.name or n.output[0], "weight": w, "weight_type": wt, "activation_type": act})
    return layers


def worst_pair_sum(w: np.ndarray) -> int:
    """The largest |w1 + w2| over two weights of one sign anywhere in the tensor (a kernel may pair any two)."""
    top = lambda v: int(np.sort(v.ravel())[-2:].sum())  # noqa: E731
    return max(top(np.maximum(w, 0)), top(np.maximum(-w, 0)))


def saturation_risks(path: Path) -> list[str]:
    """Why an int8 graph could compute different integers on an x86 CPU without VNNI ([] when it cannot).

    u8 activations x s8 weights run on VPMADDUBSW there, which adds two neighbouring products a1*w1 + a2*w2
    in a signed 16-bit lane. Which weights are paired depends on the kernel's packing, so the check takes the
    two largest weights of one sign in the whole tensor: with a in 0..255 the pair may saturate when
    255 * (w1 + w2) > 32767. s8 activations are shifted to u8 first (same kernel). u8 weights (U8U8) run on a
    kernel that widens to 16 bits before multiplying and cannot saturate.
    """
    import onnx

    risks = []
    for layer in _integer_layers(onnx.load(str(path))):
        pair = worst_pair_sum(layer["weight"])
        if layer["weight_type"] == "int8" and U8_MAX * pair > INT16_MAX:
            risks.append(f"{layer['name']}: int8 weights up to |{int(np.abs(layer['weight']).max())}|; "
                         f"255 x {pair} > 32767 saturates the 16-bit u8 x s8 sums of x86 CPUs without VNNI")
    return risks


def integer_weight_ranges(path: Path) -> list[dict]:
    """One row per integer layer: name, weight and activation types, largest |weight| and worst pair sum."""
    import onnx

    return [{"layer": x["name"], "weight_type": x["weight_type"], "activation_type": x["activation_type"],
             "max_abs_weight": int(np.abs(x["weight"]).max()), "worst_pair_sum": worst_pair_sum(x["weight"])}
            for x in _integer_layers(onnx.load(str(path)))]


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


# --- fused kernels vs reference math ---------------------------------------------------------------------------


def optimized_vs_reference(path: Path, images: np.ndarray, chunk: int = 1000) -> dict:
    """Run `path` with onnxruntime's graph optimizations on (QDQ fused into integer kernels) and off (reference:
    float math between QuantizeLinear/DequantizeLinear) on uint8 images (N,28,28): logits of both, argmax
    agreement and max |logit difference|."""
    x = inference.to_model_input(images)
    z = {}
    for name, optimized in (("optimized", True), ("reference", False)):
        s = inference.open_session(path, optimized=optimized)
        z[name] = np.concatenate([s.run(None, {s.get_inputs()[0].name: x[i : i + chunk]})[0]
                                  for i in range(0, len(x), chunk)])
    return {"logits": z, "argmax_agreement": float((z["optimized"].argmax(1) == z["reference"].argmax(1)).mean()),
            "max_abs_logit_diff": float(np.abs(z["optimized"] - z["reference"]).max())}
