"""Every `python -m core` command fed random flag values (issue 15, "Also"): exit code 0 or 2, never a traceback,
no file outside its --out.

Commands run in-process through core.cli.main, in an empty working folder that is also the runs folder's parent.
Values are drawn from a flag's small valid range (so a run that starts stays tiny), from just outside it, and from
garbage (NaN, infinities, huge numbers, words). Commands that would run for long (a CNN, the benchmarks, the
screenshots, a server that answers) always get at least one invalid value or an input that cannot be served.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.cli import main

GARBAGE = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e308", "-1e308", "", "abc", "0x10", "1,2", "--", "-x", "ﬁ", "10**9"]),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


def ints(lo: int, hi: int) -> st.SearchStrategy[str]:
    """A value in [lo, hi], one just outside it, or garbage."""
    return st.one_of(st.integers(lo, hi), st.sampled_from([lo - 1, hi + 1, -1, 0])).map(str) | GARBAGE


def floats(lo: float, hi: float) -> st.SearchStrategy[str]:
    return st.one_of(st.floats(lo, hi).map(repr), st.sampled_from([lo - 1, hi * 10, -1e-9, math.nan]).map(repr)) \
        | GARBAGE


NOT_A_NUMBER = st.sampled_from(["nan", "", "abc", "1.5", "-1", "0", "1e3"])
TRAIN = {  # flag -> values; a run that starts stays tiny: at most 3 steps (never a huge valid --max-steps), 1 thread
    "--epochs": ints(1, 10**12), "--batch-size": ints(1, 128), "--lr": floats(1e-6, 1.0),
    "--momentum": floats(0.0, 0.99), "--l2": floats(0.0, 1.0), "--seed": ints(0, 2**32 - 1),
    "--max-steps": st.integers(1, 3).map(str) | NOT_A_NUMBER, "--threads": st.just("1") | NOT_A_NUMBER,
    "--schedule": st.sampled_from(["cosine", "constant", "linear", ""]),
}
TINY = ["--max-steps=2", "--threads=1", "--out", "{out}"]  # before the random flags, which win (argparse: last wins)
COMMANDS = {  # command -> (flags and their values, fixed arguments; "{out}" and "{png}" are filled in)
    "train softmax": (TRAIN, TINY),
    "train mlp": (TRAIN | {"--hidden": ints(1, 32)}, TINY),
    "train torch-mlp": (TRAIN | {"--hidden": ints(1, 32)}, ["--no-numpy", *TINY]),
    "parity": ({k: TRAIN[k] for k in ("--batch-size", "--lr", "--momentum", "--l2", "--seed")}
               | {"--hidden": ints(1, 32)}, []),
    "predict": ({"--radius": ints(0, 64), "--offset": floats(0, 255), "--gain": floats(0.1, 255),
                 "--box": ints(1, 2000), "--steps": st.sampled_from(["112,56", "28", "1,1", "0", "-3", "a,b", "99999",
                                                                      "", "56,112"]) | GARBAGE}, ["{png}"]),
    "golden": ({}, ["{out}"]),
    "data": ({"--idx": st.sampled_from(["{out}", "/nonexistent", "{png}", ""])}, []),
    "export": ({"--out": st.just("{out}")}, ["{out}/no-run", "--no-browser"]),
    "export-web": ({"--model": st.sampled_from(["{png}", "/nonexistent.onnx", "{out}"])}, ["{out}/web"]),
    "serve-web": ({"--port": ints(0, 65535)}, ["{out}"]),  # {out} holds no bundle: refused before listening
}
CNN = {k: TRAIN[k] for k in ("--epochs", "--seed", "--threads", "--batch-size", "--max-steps")} | {
    "--lr": floats(1e-6, 10.0), "--clean-frac": floats(0, 1), "--weight-decay": floats(0, 1),
    "--eval-every": ints(1, 10)}
SLOW_TO_RUN = {"train cnn": (CNN, TINY)}
INVALID_CNN = st.sampled_from([["--epochs", "0"], ["--seed", "-1"], ["--lr", "nan"], ["--batch-size", "0"],
                               ["--clean-frac", "2"], ["--weight-decay", "-1"], ["--eval-every", "0"],
                               ["--threads", "-1"], ["--lr", "1e308"], ["--max-steps", "0"]])


@st.composite
def command_lines(draw, commands: dict) -> list[str]:
    name = draw(st.sampled_from(sorted(commands)))
    flags, fixed = commands[name]
    chosen = draw(st.lists(st.sampled_from(sorted(flags)), unique=True, max_size=4)) if flags else []
    argv = name.split() + fixed
    for flag in chosen:
        argv += [f"{flag}={draw(flags[flag])}"]  # "=": a value that starts with "-" stays a value
    if name == "train cnn":
        argv += draw(INVALID_CNN)  # never a real CNN run: one value it must refuse, after the random ones
    return argv


def run_in(folder: Path, argv: list[str]) -> None:
    """Run one command line in `folder` and check the properties."""
    png = folder / "digit.png"
    out = folder / "out"
    argv = [a.replace("{out}", str(out)).replace("{png}", str(png)) for a in argv]
    before = set(_listing(folder))
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse: --help (0) or a bad flag (2)
            code = e.code
    assert code in (0, 2), (argv, code, stderr.getvalue()[-2000:])
    assert "Traceback" not in stderr.getvalue(), (argv, stderr.getvalue()[-2000:])
    if code == 2:  # a bad flag too: one line, like every user error
        errors = [ln for ln in stderr.getvalue().replace("\r", "\n").splitlines() if ln.startswith("error:")]
        assert len(errors) == 1, (argv, stderr.getvalue()[-2000:])
    outside = {p for p in set(_listing(folder)) - before if not p.startswith("out")}
    assert not outside, (argv, sorted(outside))
    with contextlib.suppress(FileNotFoundError):  # the next example starts from the same empty folder
        import shutil

        shutil.rmtree(out)


def _listing(folder: Path) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob("*")]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz")
    Image.new("L", (90, 90), 255).save(folder / "digit.png")
    return folder


@pytest.fixture(scope="module", autouse=True)
def _inside(workdir):
    """Run every example in the empty working folder, with the runs folder inside it."""
    old_cwd, old_runs = Path.cwd(), os.environ.get("DIGITS_RUNS_DIR")
    os.chdir(workdir)
    os.environ["DIGITS_RUNS_DIR"] = str(workdir / "runs")
    yield
    os.chdir(old_cwd)
    if old_runs is None:
        os.environ.pop("DIGITS_RUNS_DIR", None)
    else:
        os.environ["DIGITS_RUNS_DIR"] = old_runs


FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=100,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@FUZZ
@given(argv=command_lines({k: v for k, v in COMMANDS.items() if k != "parity"} | SLOW_TO_RUN))
def test_every_command_exits_0_or_2_without_traceback_or_stray_files(argv, workdir, mnist):
    run_in(workdir, argv)


# Gaps in modules this branch does not own (reported to their owners): strict, so a fix turns them into failures
# that say "remove the mark".


@FUZZ
@given(argv=command_lines({"parity": COMMANDS["parity"]}))
def test_parity_exits_0_or_2_without_traceback(argv, workdir, mnist):
    run_in(workdir, argv)


def test_a_huge_thread_count_is_one_line(workdir):
    run_in(workdir, ["train", "softmax", *TINY, "--threads", str(10**20)])


def test_export_of_a_folder_that_is_not_a_run_writes_nothing(workdir, mnist):
    run_in(workdir, ["export", str(workdir / "not-a-run"), "--no-browser"])
