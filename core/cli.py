"""`python -m core COMMAND ...`: one entry point; each command lives in the module that does the work.

A command named "train cnn" maps to (module, name): the module defines `<name>_args(parser)` and
`<name>_main(args) -> int`. Only the chosen command's module is imported, so `python -m core data`
does not pay for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from core.errors import UserError

COMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("core.data", "data", "fetch, verify and cache MNIST (or import IDX files)"),
    "train softmax": ("core.numpy_train", "softmax", "phase 1: softmax regression in NumPy"),
    "train mlp": ("core.numpy_train", "mlp", "phase 2: 784-H-10 MLP in NumPy"),
    "train torch-mlp": ("core.torch_mlp", "train", "phase 3: the same MLP in PyTorch"),
    "train cnn": ("core.cnn_train", "train", "phase 4: CNN with per-sample augmentation (PyTorch)"),
    "parity": ("core.parity", "parity", "phase 3: prove NumPy MLP == PyTorch MLP on the same weights"),
    "export": ("core.export", "export", "export a CNN run to ONNX, check it, quantize it to int8"),
    "golden": ("core.golden", "golden", "write golden vectors of the camera preprocessing"),
    "predict": ("core.predict", "predict", "classify image files through the camera pipeline"),
    "export-web": ("core.bundle", "export_web", "emit the static web deployment"),
    "serve-web": ("core.serve", "serve_web", "serve a web bundle on 127.0.0.1"),
    "screenshots": ("core.screenshots", "screenshots", "the README tour: every dashboard page in Chromium"),
    **{f"bench {name}": (f"core.bench.{module}", "bench", about) for name, module, about in (
        ("numpy", "numpy_training", "NumPy vs PyTorch MLP training throughput; phase 1-2 accuracy"),
        ("models", "models", "accuracy, size, latency of every model"),
        ("preprocess", "preprocess", "camera pipeline accuracy and latency vs references"),
        ("recognition", "recognition", "digits and empty paper on the evaluation simulator, per kind and pipeline"),
        ("numbers", "numbers", "whole numbers in 1280x960 photos of the evaluation simulator: exact, per digit, time"),
        ("web", "web", "static web page: bundle size, first prediction, per-frame latency"),
        ("dashboard", "dashboard", "dashboard: camera fps, live-training overhead, page open times"),
        ("finetune", "finetune", "fine-tune the CNN on one writer's 50 digits: seconds, MNIST kept"),
        ("speedrun", "speedrun", "seconds of training the `fast` CNN preset needs to reach 99 % and 99.5 %"),
    )},
}
BENCHMARKS = [name.split()[1] for name in COMMANDS if name.startswith("bench ")]  # `make bench` runs each
GROUPS = {"train": "train a model", "bench": "measure speed and accuracy"}


def _selected(argv: list[str]) -> str | None:
    words = [a for a in argv if not a.startswith("-")][:2]
    if len(words) == 2 and " ".join(words) in COMMANDS:
        return " ".join(words)
    return words[0] if words and words[0] in COMMANDS else None


class Parser(argparse.ArgumentParser):
    """argparse, except that a bad flag is reported like every other user error: one `error:` line, exit 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message}; see `{self.prog} --help`\n")


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m core",
        description="Digit Inference Engine: data, training, export, preprocessing, benchmarks.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    chosen = _selected(argv)
    for name, (module, fn, help_) in COMMANDS.items():
        words = name.split()
        kw = {"help": help_.replace("%", "%%"), "description": help_,  # argparse formats help with %
              "formatter_class": argparse.ArgumentDefaultsHelpFormatter}
        if len(words) == 1:
            p = sub.add_parser(words[0], **kw)
        else:
            if words[0] not in groups:
                g = sub.add_parser(words[0], help=GROUPS[words[0]])
                groups[words[0]] = g.add_subparsers(dest="what", required=True, metavar="WHAT")
            p = groups[words[0]].add_parser(words[1], **kw)
        p.set_defaults(_command=name)
        if name == chosen:
            getattr(importlib.import_module(module), f"{fn}_args")(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    for word in argv:  # argparse (3.11) turns "--seed=--" into an empty list instead of refusing it
        flag, eq, value = word.partition("=")
        if flag.startswith("--") and eq and value == "--":
            parser.error(f"argument {flag}: expected one value, got '--'")
    args = parser.parse_args(argv)
    args._argv = list(argv)  # commands that re-run themselves elsewhere (a network namespace) need the words
    module, fn, _ = COMMANDS[args._command]
    run: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), f"{fn}_main")
    try:
        return int(run(args) or 0)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def progress_bar(desc: str = ""):
    """A Progress callback (what, fraction) drawn with tqdm on stderr once first called; .close() ends it."""
    from tqdm import tqdm

    state: dict = {}

    def update(what: str, frac: float) -> None:
        bar = state.get("bar") or state.setdefault(
            "bar", tqdm(total=1000, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")
        )
        bar.set_description_str(f"{desc}: {what}" if desc else what)
        bar.n = int(round(min(max(frac, 0.0), 1.0) * 1000))
        bar.refresh()

    update.close = lambda: state["bar"].close() if "bar" in state else None  # type: ignore[attr-defined]
    return update
