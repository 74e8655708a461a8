"""core.numbers: every digit in a frame, read left to right, lines top to bottom; `predict --all`; bench numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import eval_sim
from core.bench.numbers import format_report, match_digits, run_bench, wilson
from core.cli import main
from core.contract import make_contract, write_contract
from core.inference import load_model
from core.numbers import (
    NumbersConfig,
    group_lines,
    join_components,
    read_digits,
    segment,
    split_columns,
)
from core.preprocess import PreprocessConfig


def written(mnist, picks: list[int], seed: int, width: int = 1280, height: int = 960) -> tuple[np.ndarray, str]:
    """A clean photo of MNIST test digits `picks` written as one number, and the number."""
    s = eval_sim.number_photo([mnist.test_images[i] for i in picks], seed, width, height, clean=True)
    return s.image, "".join(str(int(mnist.test_labels[i])) for i in picks)


def first_of(mnist, digits: str) -> list[int]:
    """Indices of the first MNIST test images of each digit in `digits` (skipping the first 100: any clear one)."""
    return [int(np.flatnonzero(mnist.test_labels[100:] == int(d))[0]) + 100 for d in digits]


@pytest.fixture(scope="module")
def model():
    return load_model()


def constant_model(tmp_path: Path, bias: list[float]) -> Path:
    """An ONNX model whose logits are always `bias` (10 or 11 classes), with its contract; 11 classes get the
    rejection rule "not a digit" = class 10."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k = len(bias)
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["image", "shape"], ["flat"]),
         helper.make_node("MatMul", ["flat", "W"], ["z"]),
         helper.make_node("Add", ["z", "b"], ["logits"])],
        "constant",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", k])],
        [numpy_helper.from_array(np.array([-1, 784], np.int64), "shape"),
         numpy_helper.from_array(np.zeros((784, k), np.float32), "W"),
         numpy_helper.from_array(np.array(bias, np.float32), "b")],
    )
    path = tmp_path / f"constant{k}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)
    extra = {} if k == 10 else {"labels": list(range(10)) + ["not a digit"],
                                "rejection": {"none_class": 10, "min_confidence": 0.5, "temperature": 1.0}}
    contract = make_contract(path, preprocess=PreprocessConfig().to_dict(), metrics={}, extra=extra)
    contract["output"]["shape"] = ["batch", k]
    write_contract(path, contract)
    return path


# ---------------------------------------------------------------- the pieces


def test_split_columns_cuts_at_the_emptiest_column_near_each_even_cut():
    ink = np.full(30, 5.0)
    ink[13] = 0.5  # the valley between two touching digits, off the even cut (15)
    assert split_columns(ink, 2) == [13]
    flat = np.ones(30)
    assert split_columns(flat, 3) == [10, 20]  # no valley: the even cuts


def test_join_components_keeps_a_digits_strokes_and_separates_digits():
    h = 40.0
    # rows y0, y1, x0, x1, mass: a 5's bar above its body (columns overlap), a gap of 0.3 h, then a 1
    boxes = np.array([[0, 8, 5, 30, 20.0], [10, 39, 2, 28, 80.0], [0, 39, 40, 46, 40.0]])
    groups = join_components(boxes, [0, 1, 2], h, NumbersConfig())
    assert sorted(sorted(g[5]) for g in groups) == [[0, 1], [2]]
    assert [g[:4] for g in groups if g[5] == [2]] == [[0, 39, 40, 46]]


def test_group_lines_reads_top_to_bottom_left_to_right_and_follows_a_slanted_line():
    # a line drifting down 15 px per digit (a tilted photo), and a second line below it, given in a shuffled order
    top = [(100 + 60 * i, 100 + 15 * i, 40, 60) for i in range(5)]
    below = [(120 + 60 * i, 300, 40, 60) for i in range(3)]
    boxes = [below[2], top[3], top[0], below[0], top[4], top[1], below[1], top[2]]
    lines = group_lines(boxes, 0.5)
    assert [[boxes[i] for i in line] for line in lines] == [top, below]


def test_match_digits_counts_a_digit_right_only_when_one_reading_lies_in_its_box():
    truth = [(0, 0, 50, 80), (70, 0, 50, 80)]
    one_each = [{"digit": 4, "box": [5, 5, 40, 70]}, {"digit": 2, "box": [75, 0, 40, 80]}]
    assert match_digits(truth, [4, 2], one_each) == (2, 0)
    assert match_digits(truth, [4, 7], one_each) == (1, 0)
    split = [{"digit": 1, "box": [0, 0, 20, 80]}, {"digit": 4, "box": [25, 0, 20, 80]}] + one_each[1:]
    assert match_digits(truth, [4, 2], split) == (1, 0)  # two readings in one box: that digit is not right
    assert match_digits(truth, [4, 2], one_each + [{"digit": 9, "box": [300, 0, 40, 80]}]) == (2, 1)
    lo, hi = wilson(95, 100)
    assert lo < 0.95 < hi and wilson(0, 0) == (0.0, 1.0)


def test_numbers_config_refuses_values_out_of_range():
    from core.errors import UserError

    with pytest.raises(UserError, match="numbers config"):
        NumbersConfig(work_height=2)
    with pytest.raises(UserError, match="numbers config"):
        NumbersConfig(join_width=2.0, split_width=1.5)


# ---------------------------------------------------------------- whole frames


@pytest.mark.slow
def test_a_written_number_is_read_left_to_right_with_boxes_on_each_digit(mnist, model):
    picks = first_of(mnist, "2026")
    image, number = written(mnist, picks, 3)
    truth = eval_sim.number_photo([mnist.test_images[i] for i in picks], 3, clean=True).boxes
    r = read_digits(image, model)
    assert r["text"] == number == "2026"
    assert [d["digit"] for d in r["digits"]] == [2, 0, 2, 6]
    for d, (x, y, w, h) in zip(r["digits"], truth, strict=True):
        bx, by, bw, bh = d["box"]
        assert 0 < d["confidence"] <= 1
        assert abs(bx + bw / 2 - (x + w / 2)) < 0.25 * w and abs(by + bh / 2 - (y + h / 2)) < 0.25 * h


def test_two_lines_are_joined_by_one_space_top_line_first(mnist, model):
    top, a = written(mnist, first_of(mnist, "42"), 5, 1280, 480)
    bottom, b = written(mnist, first_of(mnist, "731"), 6, 1280, 480)
    r = read_digits(np.concatenate([top, bottom]), model)
    assert (a, b) == ("42", "731")
    assert r["text"] == "42 731"
    ys = [d["box"][1] for d in r["digits"]]
    assert max(ys[:2]) < 480 <= min(ys[2:])


def test_blank_paper_gives_empty_text(model):
    assert read_digits(np.full((960, 1280, 3), 228, np.uint8), model) == {"text": "", "digits": []}
    s = eval_sim.blank(11, (1280, 960), clean=True)
    assert read_digits(s.image, model)["text"] == ""


def test_segmentation_without_a_model_finds_each_digit(mnist):
    image, number = written(mnist, first_of(mnist, "3859"), 8)
    seg = segment(image)
    assert len(seg.lines) == 1 and len(seg.candidates) == len(number)
    assert all(c.image.shape == (28, 28) and c.image.dtype == np.float32 for c in seg.candidates)
    xs = [c.box[0] for c in seg.candidates]
    assert xs == sorted(xs)
    assert len(seg.regions) == 1 and len(seg.regions[0].digit_boxes) == len(number)


@pytest.mark.slow
def test_an_eleven_output_contract_drops_what_it_rejects(mnist, tmp_path):
    image, number = written(mnist, first_of(mnist, "58"), 9)
    never = load_model(constant_model(tmp_path, [0.0] * 10 + [5.0]))  # "not a digit" always wins
    assert read_digits(image, never) == {"text": "", "digits": []}
    sevens = load_model(constant_model(tmp_path, [0.0] * 7 + [6.0] + [0.0] * 3))  # 7, sure, never rejected
    r = read_digits(image, sevens)
    assert r["text"] == "77" and len(number) == 2
    assert all(d["digit"] == 7 and d["confidence"] > 0.9 for d in r["digits"])


# ---------------------------------------------------------------- predict --all


@pytest.mark.slow
def test_predict_all_json_gives_one_record_per_file_in_order(mnist, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image, number = written(mnist, first_of(mnist, "2026"), 3)
    Image.fromarray(image).save("n.png")
    Image.fromarray(np.full((480, 640, 3), 230, np.uint8)).save("blank.png")
    Path("bad.png").write_bytes(b"not an image")
    code = main(["predict", "--all", "--json", "n.png", "blank.png", "bad.png"])
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 2  # one file could not be read; the others still were
    assert [r["path"] for r in recs] == ["n.png", "blank.png", "bad.png"]
    n, blank, bad = recs
    assert set(n) == {"path", "text", "digits"} and n["text"] == number
    assert [set(d) for d in n["digits"]] == [{"digit", "confidence", "box"}] * 4
    assert all(len(d["box"]) == 4 and all(isinstance(v, int) for v in d["box"]) for d in n["digits"])
    assert blank == {"path": "blank.png", "text": "", "digits": []}
    assert bad["text"] is None and "error" in bad


@pytest.mark.slow
def test_predict_all_plain_output_and_refusals(mnist, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image, number = written(mnist, first_of(mnist, "42"), 4)
    Image.fromarray(image).save("n.png")
    Image.fromarray(np.full((480, 640, 3), 230, np.uint8)).save("blank.png")
    assert main(["predict", "--all", "n.png", "blank.png"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"n.png: {number}", "blank.png: no digits"]
    assert main(["predict", "--all", "--raw", "n.png"]) == 2
    assert "--raw" in capsys.readouterr().err
    assert main(["predict", "--json", "n.png"]) == 0  # without --all: one digit, the record as before
    assert set(json.loads(capsys.readouterr().out)) == {"path", "digit", "confidence", "probabilities", "reason"}


# ---------------------------------------------------------------- the benchmark


@pytest.mark.slow
def test_bench_numbers_reports_every_figure(tmp_path, capsys):
    r = run_bench(None, numbers=2, blanks=1)
    assert r["numbers"] == 2 and r["digits_written"] >= 4 and 0 <= r["exact"] <= 1 and 0 <= r["per_digit"] <= 1
    assert r["no_digit"] in (0.0, 1.0) and r["ms_per_frame"]["median"] > 0
    text = format_report(r)
    for words in ("exact number", "per digit", "blank frames", "1280x960 frame -> all digits", "target"):
        assert words in text
    out = tmp_path / "numbers.json"
    assert main(["bench", "numbers", "--numbers", "1", "--blanks", "0", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["numbers"] == 1
    assert main(["bench", "numbers", "--numbers", "0"]) == 2
