"""The model contract: the JSON beside every `.onnx` (`model.onnx` -> `model.json`), read by every consumer.

It names the graph's input and output, their shapes, the input scaling and the preprocessing parameters the
model expects, plus the model's measured accuracy, size and SHA-256. A model with an 11th output class
"not a digit" has 11 labels and a "rejection" rule: {"none_class": 10, "min_confidence": p, "temperature": T}
(core.inference.decide applies it; web/script.js does the same). The input is float32 (N,1,28,28) in
[0,1], white ink on black, MNIST-framed; any normalization happens inside the graph, so consumers never
rescale. `read_contract` checks a contract against one schema (types included) before anyone uses it, and
`resolve_preprocess` is the one place that turns a contract's settings into a PreprocessConfig.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from core.errors import UserError
from core.preprocess import PreprocessConfig
from core.storage import atomic_write_json, read_json

CONTRACT_FORMAT = "digit-inference-engine/model-contract"
CONTRACT_VERSION = 1
INPUT_NAME, OUTPUT_NAME = "image", "logits"


def contract_path(model_path: Path) -> Path:
    return Path(model_path).with_suffix(".json")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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


# --- the schema ------------------------------------------------------------------------------------------------

_STR, _INT, _NUM, _LIST, _OBJ = "a string", "an integer", "a number", "a list", "an object"


def _is(value: object, kind: str) -> bool:
    if kind == _STR:
        return isinstance(value, str)
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _NUM:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, list if kind == _LIST else dict)


SCHEMA: dict[str, str] = {  # field -> type every contract must have ("a.b": field b of object a)
    "format": _STR, "version": _INT, "model_file": _STR, "sha256": _STR, "size_bytes": _INT,
    "input": _OBJ, "input.name": _STR, "input.shape": _LIST, "input.dtype": _STR,
    "output": _OBJ, "output.name": _STR, "output.shape": _LIST,
    "preprocess": _OBJ,
}
OPTIONAL: dict[str, str] = {  # field -> type when present
    "labels": _LIST, "metrics": _OBJ, "metrics.test_accuracy": _NUM, "metrics.backends": _OBJ, "input.range": _LIST,
    "architecture": _OBJ, "quantization": _OBJ, "rejection": _OBJ, "rejection.none_class": _INT,
    "rejection.min_confidence": _NUM, "rejection.temperature": _NUM,
}


def schema_problems(c: object) -> list[str]:
    """What in a parsed contract does not fit the schema (missing fields, wrong types); [] when it fits."""
    if not isinstance(c, dict):
        return ["is not a JSON object"]
    problems = []
    for fields, required in ((SCHEMA, True), (OPTIONAL, False)):
        for key, kind in fields.items():
            parent, _, leaf = key.rpartition(".")
            holder = c.get(parent) if parent else c
            if not isinstance(holder, dict):
                continue  # reported at the parent
            if leaf not in holder:
                if required:
                    problems.append(f"lacks '{key}'")
            elif not _is(holder[leaf], kind):
                problems.append(f"'{key}' must be {kind}, not {type(holder[leaf]).__name__}")
    return problems


def read_contract(model_path: Path) -> dict:
    """Read and check the contract beside `model_path`: format, version, schema, preprocessing settings, digest."""
    path = contract_path(model_path)
    c = read_json(path, "model contract")
    if c.get("format") != CONTRACT_FORMAT or c.get("version") != CONTRACT_VERSION:
        raise UserError(f"{path} is not a version-{CONTRACT_VERSION} model contract of this project")
    problems = schema_problems(c)
    if problems:
        raise UserError(f"model contract {path}: {'; '.join(problems[:3])}")
    try:
        resolve_preprocess(c)
    except UserError as e:
        raise UserError(f"model contract {path}: {e}") from None
    if sha256_file(model_path) != c["sha256"]:
        raise UserError(f"{model_path} does not match its contract {path.name} (SHA-256 differs)")
    return c


# --- the preprocessing settings ----------------------------------------------------------------------------------


def resolve_preprocess(contract: dict | None, overrides: dict | None = None) -> PreprocessConfig:
    """The preprocessing settings a consumer runs with. Precedence, later wins:

    1. PreprocessConfig's defaults (core/preprocess.py), for any field the contract lacks;
    2. the contract's "preprocess" (the settings the model was exported with; unknown keys, from a newer
       project version, are ignored);
    3. `overrides` (CLI flags, the Playground's sliders, a web bundle's config.json; unknown keys are an error).

    So changing a default in PreprocessConfig changes nothing for a model whose contract sets that field (the
    shipped one sets them all) until the model is re-exported: `python -m core export RUN --ship`. A contract
    written before the find step (no "find" key) keeps the pipeline it was made with (PreprocessConfig.legacy,
    its fixed box in pixels).
    """
    names = set(PreprocessConfig().to_dict())
    stored = (contract or {}).get("preprocess") or {}
    if not isinstance(stored, dict):
        raise UserError("'preprocess' must be an object")
    base = {k: v for k, v in stored.items() if k in names}
    if stored and "find" not in stored:  # exported before the find step: that pipeline, as it was
        base = PreprocessConfig.legacy().to_dict() | {k: v for k, v in base.items() if k != "box"}
        base["box_px"] = stored.get("box")
    return PreprocessConfig.from_dict({**base, **(overrides or {})})
