"""core.predict: the `predict` command on real and hostile files, and the camera-set measurement."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import camera_set
from core.bench.preprocess import camera_set_scores, format_report, run_bench
from core.cli import main
from core.contract import make_contract, resolve_preprocess, write_contract
from core.errors import UserError
from core.images import load_image
from core.inference import default_model_path, load_model
from core.predict import classify
from core.preprocess import EDGE_ONLY, NO_INK, NOT_FOUND, PreprocessConfig, preprocess


@pytest.fixture(scope="module")
def template_model(tmp_path_factory, mnist) -> Path:
    """A nearest-centroid linear classifier as a tiny ONNX graph (image -> logits), with its contract."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    X = mnist.train_images[:20000].reshape(-1, 784) / 255.0
    T = np.stack([X[mnist.train_labels[:20000] == c].mean(0) for c in range(10)])  # (10,784)
    W = T.T.astype(np.float32)  # (784,10)
    b = (-0.5 * (T**2).sum(1)).astype(np.float32)  # (10,)
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["image", "shape"], ["flat"]),
         helper.make_node("MatMul", ["flat", "W"], ["z"]),
         helper.make_node("Add", ["z", "b"], ["logits"])],
        "centroids",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(np.array([-1, 784], np.int64), "shape"), numpy_helper.from_array(W, "W"),
         numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    path = tmp_path_factory.mktemp("model") / "centroids.onnx"
    onnx.save(model, path)
    write_contract(path, make_contract(path, preprocess=PreprocessConfig().to_dict(), metrics={}))
    return path


def camera_png(path: Path, index: int, mnist, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    Image.fromarray(camera_set.camera_sample(mnist.test_images[index], rng, camera_set.Style(jpeg=None))).save(path)
    return int(mnist.test_labels[index])


def run_json(capsys, *args) -> tuple[int, list[dict]]:
    code = main(["predict", "--json", *map(str, args)])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines()]


# ---------------------------------------------------------------- the command


def test_predict_json_records_keep_paths_and_order(tmp_path, capsys, monkeypatch, template_model, mnist):
    monkeypatch.chdir(tmp_path)
    camera_png(tmp_path / "d.png", 3, mnist)
    Image.fromarray(np.full((60, 80, 3), 235, np.uint8)).save(tmp_path / "blank.png")
    code, recs = run_json(capsys, "--model", template_model, "./d.png", "blank.png")
    assert code == 0
    assert [r["path"] for r in recs] == ["./d.png", "blank.png"]
    d, blank = recs
    assert set(d) == {"path", "digit", "confidence", "probabilities", "reason"}
    assert isinstance(d["digit"], int) and d["reason"] is None
    assert len(d["probabilities"]) == 10 and abs(sum(d["probabilities"]) - 1) < 1e-4
    assert d["confidence"] == max(d["probabilities"])
    assert blank["digit"] is None and blank["reason"] == NO_INK and blank["probabilities"] is None


def test_unreadable_files_get_their_own_record_and_exit_2(tmp_path, capsys, template_model, mnist):
    good = tmp_path / "good.png"
    camera_png(good, 0, mnist)
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n")
    code, recs = run_json(capsys, "--model", template_model, text, tmp_path / "missing.png", tmp_path, good)
    assert code == 2  # a user error (README): the readable file is still classified
    assert [r["path"] for r in recs] == [str(text), str(tmp_path / "missing.png"), str(tmp_path), str(good)]
    assert "not an image" in recs[0]["error"] and "no such file" in recs[1]["error"]
    assert "directory" in recs[2]["error"]
    assert all(r["digit"] is None and "\n" not in r["error"] for r in recs[:3])
    assert "error" not in recs[3] and recs[3]["digit"] is not None


def test_text_output_and_errors_on_stderr(tmp_path, capsys, template_model, mnist):
    camera_png(tmp_path / "a.png", 1, mnist)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 nope")
    code = main(["predict", "--model", str(template_model), str(tmp_path / "a.png"), str(tmp_path / "bad.jpg")])
    out, err = capsys.readouterr()
    assert code == 2
    assert out.startswith(f"{tmp_path / 'a.png'}: ") and "confidence" in out and "p = [" in out
    assert err.count("\n") == 1 and err.startswith("error: ") and "bad.jpg" in err


OPTIONS = {  # each flag of `predict` and the setting it must change
    "--radius 3": {"radius": 3}, "--offset 0.095": {"offset": 0.095}, "--gain 0.3": {"gain": 0.3},
    "--steps 64,32": {"steps": (64, 32)}, "--no-framing": {"framing": False}, "--single-step": {"single_step": True},
    "--box 0.5": {"box": 0.5},
}


def test_options_reach_the_pipeline(tmp_path, capsys, template_model, mnist):
    model = load_model(template_model)
    cfg = resolve_preprocess(model.contract, {"radius": 3, "offset": 0.095, "steps": (64, 32), "framing": False,
                                              "box": None})
    assert (cfg.radius, cfg.offset, cfg.steps, cfg.framing) == (3, 0.095, (64, 32), False)
    camera_png(tmp_path / "a.png", 2, mnist)
    rgb = np.asarray(Image.open(tmp_path / "a.png").convert("RGB"))
    default = resolve_preprocess(model.contract, {"box": None})
    for flags, setting in OPTIONS.items():  # the record is what the changed setting gives, and it did change
        code, (rec,) = run_json(capsys, "--model", template_model, *flags.split(), tmp_path / "a.png")
        want = resolve_preprocess(model.contract, {"box": None, **setting})
        assert code == 0 and rec["probabilities"] == pytest.approx(preprocess_probs(rgb, model, want), rel=1e-5), flags
        assert not np.allclose(preprocess(rgb, want).image, preprocess(rgb, default).image, atol=1e-3), flags
    assert main(["predict", "--model", str(template_model), "--steps", "a,b", str(tmp_path / "a.png")]) == 2
    assert main(["predict", "--model", str(template_model), "--radius", "-3", str(tmp_path / "a.png")]) == 2
    assert "preprocess config" in capsys.readouterr().err


def test_raw_mode_feeds_mnist_images_unchanged(tmp_path, capsys, template_model, mnist):
    model = load_model(template_model)
    for i in range(5):
        Image.fromarray(mnist.test_images[i]).save(tmp_path / f"m{i}.png")
    code, recs = run_json(capsys, "--model", template_model, "--raw", *[tmp_path / f"m{i}.png" for i in range(5)])
    want = model.probabilities(mnist.test_images[:5].astype(np.float32) / 255)
    assert code == 0
    np.testing.assert_allclose([r["probabilities"] for r in recs], want, atol=1e-5)


def test_default_model_is_the_shipped_one():
    assert default_model_path().name == "model.onnx"


# ---------------------------------------------------------------- hostile and odd image files


def png_header_only(path: Path, w: int, h: int) -> None:
    """A PNG that claims w x h pixels but carries almost no data (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [30000, 8000])  # Pillow's error (> 2x the limit) and its warning (1-2x)
def test_decompression_bomb_is_refused_quickly(tmp_path, side):
    bomb = tmp_path / "bomb.png"
    png_header_only(bomb, side, side)
    with pytest.raises(UserError, match="decompression bomb") as e:
        load_image(bomb)
    assert "\n" not in str(e.value)


def test_truncated_jpeg_is_a_one_line_error(tmp_path, mnist):
    buf = io.BytesIO()
    Image.fromarray(camera_set.camera_sample(mnist.test_images[0], np.random.default_rng(0))).save(buf, "JPEG")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(UserError, match="unreadable image") as e:
        load_image(cut)
    assert "\n" not in str(e.value)


def test_text_named_png_and_empty_file(tmp_path):
    (tmp_path / "t.png").write_text("hello")
    (tmp_path / "e.png").write_bytes(b"")
    for name in ("t.png", "e.png"):
        with pytest.raises(UserError, match="not an image"):
            load_image(tmp_path / name)


def test_one_pixel_image_is_no_digit(tmp_path, template_model):
    Image.new("RGB", (1, 1), (200, 200, 200)).save(tmp_path / "one.png")
    rec = classify(load_image(tmp_path / "one.png"), load_model(template_model), PreprocessConfig(box=None))
    assert rec["digit"] is None and rec["reason"] == NO_INK


def test_16_bit_png_gives_the_same_digit_as_8_bit(tmp_path, template_model, mnist):
    rng = np.random.default_rng(4)
    rgb = camera_set.camera_sample(mnist.test_images[5], rng, camera_set.Style(jpeg=None))
    gray8 = rgb[..., 1]
    Image.fromarray(gray8.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    a = load_image(tmp_path / "g16.png")
    assert a.dtype == np.uint16 and a.shape == gray8.shape and np.array_equal(a, gray8.astype(np.uint16) * 257)
    model, cfg = load_model(template_model), PreprocessConfig(box=None)
    assert classify(a, model, cfg) == classify(gray8, model, cfg)


def test_palette_la_cmyk_and_transparent_images(tmp_path, template_model, mnist):
    rgb = camera_set.camera_sample(mnist.test_images[6], np.random.default_rng(5), camera_set.Style(jpeg=None))
    im = Image.fromarray(rgb)
    model, cfg = load_model(template_model), PreprocessConfig(box=None)
    want = classify(rgb, model, cfg)["digit"]
    im.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(tmp_path / "p.png")
    im.convert("LA").save(tmp_path / "la.png")
    im.convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    im.convert("1").save(tmp_path / "bw.png")
    for name in ("p.png", "la.png", "c.jpg"):
        a = load_image(tmp_path / name)
        assert a.dtype == np.uint8 and a.shape[:2] == rgb.shape[:2]
        assert classify(a, model, cfg)["digit"] == want, name
    assert load_image(tmp_path / "la.png").shape[2] == 4 and load_image(tmp_path / "bw.png").ndim == 2
    clear = np.zeros((50, 50, 4), np.uint8)  # transparent black = white paper: no digit
    Image.fromarray(clear, "RGBA").save(tmp_path / "clear.png")
    assert classify(load_image(tmp_path / "clear.png"), model, cfg)["reason"] == NO_INK


def test_exif_rotation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    im.save(tmp_path / "r.jpg", exif=exif.tobytes())
    assert load_image(tmp_path / "r.jpg").shape == (40, 20, 3)


def test_a_dark_border_of_a_file_is_not_a_digit(tmp_path, template_model):
    a = np.full((90, 90, 3), 230, np.uint8)
    a[:, :5] = 20  # a desk beyond the page's edge
    assert classify(a, load_model(template_model), PreprocessConfig())["reason"] in (NO_INK, NOT_FOUND)
    rec = classify(a, load_model(template_model), PreprocessConfig.legacy())
    assert rec["reason"] == EDGE_ONLY


# ---------------------------------------------------------------- measurement


def test_camera_set_scores_and_bench_report(template_model, monkeypatch):
    model = load_model(template_model)
    s = camera_set_scores(model, {"ours": PreprocessConfig(), "seed": PreprocessConfig.seed()}, n=12, negatives=6)
    ours, seed = s["configs"]["ours"], s["configs"]["seed"]
    assert 0 <= ours["accuracy"] <= 1 and seed["no_digit_rate"] == 0.0
    assert set(ours["no_digit_by_kind"]) == set(camera_set.NEGATIVE_KINDS)
    monkeypatch.setitem(__import__("sys").modules, "cv2", None)  # the bench must say when OpenCV is missing
    r = run_bench(template_model, n=6, negatives=4, repeat=2, sizes=((320, 240),))
    text = format_report(r)
    assert "not installed" in text and "320x240" in text and "ours - seed" in text
    json.dumps(r)


def test_shipped_model_reads_camera_digits_better_than_the_seed_pipeline():
    model = load_model()
    s = camera_set_scores(model, {"ours": PreprocessConfig(), "seed": PreprocessConfig.seed()}, n=150, negatives=30,
                          seed=99)
    ours, seed = s["configs"]["ours"], s["configs"]["seed"]
    # measured with the shipped model of 2026-12-02: 99.3 % vs the seed's 88.0 % (+11.3 pp), 93.3 % "no digit"
    assert ours["accuracy"] >= 0.98 and ours["accuracy"] >= seed["accuracy"] + 0.09
    assert ours["no_digit_rate"] >= 0.9


def test_png_files_match_in_memory_classification(tmp_path, capsys, template_model, mnist):
    labels = [camera_png(tmp_path / f"{i}.png", i, mnist, seed=i) for i in range(4)]
    model, cfg = load_model(template_model), resolve_preprocess(load_model(template_model).contract, {"box": None})
    code, recs = run_json(capsys, "--model", template_model, *[tmp_path / f"{i}.png" for i in range(4)])
    for i, rec in enumerate(recs):
        rgb = np.asarray(Image.open(tmp_path / f"{i}.png").convert("RGB"))
        assert rec["digit"] == classify(rgb, model, cfg)["digit"]
        assert rec["probabilities"] == pytest.approx(preprocess_probs(rgb, model, cfg), abs=1e-6)
    assert code == 0 and len(labels) == 4


def preprocess_probs(rgb, model, cfg):
    return model.probabilities(preprocess(rgb, cfg).image[None])[0].tolist()
