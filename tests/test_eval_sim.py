"""core/eval_sim: determinism, shapes, and the geometry each kind of evaluation image promises."""

import numpy as np
import pytest
from PIL import Image, ImageFilter

from core import eval_sim as es


@pytest.fixture(scope="module")
def digits(mnist) -> np.ndarray:
    return mnist.test_images[:40]  # (40,28,28) uint8


def ink_rows_cols(image: np.ndarray, level: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns holding dark ink on a clean (white paper, black ink) render."""
    dark = image.min(2) < level
    return np.flatnonzero(dark.any(1)), np.flatnonzero(dark.any(0))


def thin_dark_fraction(image: np.ndarray) -> float:
    """Share of the centre third covered by thin dark strokes (a closing fills them; shadow edges survive it)."""
    Y = Image.fromarray(image).convert("L")
    Y = Y.resize((240, round(240 * Y.size[1] / Y.size[0])), Image.BOX)
    closed = Y.filter(ImageFilter.MaxFilter(9)).filter(ImageFilter.MinFilter(9))
    r = np.asarray(Y, float) / (np.asarray(closed, float) + 1)
    H, W = r.shape
    return float(np.mean(r[H // 3 : 2 * H // 3, W // 3 : 2 * W // 3] < 0.7))


KINDS = {
    "box_crop": lambda d, s: es.box_crop(d[0], s),
    "filling_crop": lambda d, s: es.filling_crop(d[1], s),
    "photo": lambda d, s: es.photo(d[2], s, 640, 480),
    "number_photo": lambda d, s: es.number_photo(list(d[3:6]), s, 640, 480),
    "blank": lambda d, s: es.blank(s),
    "blank_frame": lambda d, s: es.blank(s, (640, 480)),
    "glyph_crop": lambda d, s: es.glyph_crop(s),
    "scribble_crop": lambda d, s: es.scribble_crop(s),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_same_seed_same_bytes_other_seed_other_image(digits, kind):
    a, b, c = KINDS[kind](digits, 7), KINDS[kind](digits, 7), KINDS[kind](digits, 8)
    assert a.image.dtype == np.uint8 and a.image.ndim == 3 and a.image.shape[2] == 3
    assert a.image.tobytes() == b.image.tobytes()
    assert a.boxes == b.boxes and a.conditions == b.conditions and a.content == b.content
    assert a.image.shape != c.image.shape or a.image.tobytes() != c.image.tobytes()


def test_generator_and_int_seed_agree(digits):
    a = es.box_crop(digits[0], np.random.default_rng(3), size=200)
    b = es.box_crop(digits[0], 3, size=200)
    assert a.image.tobytes() == b.image.tobytes()


def test_sizes(digits):
    for s in range(6):
        side = es.box_crop(digits[s], s).image.shape[0]
        assert 120 <= side <= 480
    assert es.box_crop(digits[0], 0, size=300).image.shape == (300, 300, 3)
    assert es.filling_crop(digits[0], 0, size=150).image.shape == (150, 150, 3)
    assert es.photo(digits[0], 0, 946, 709).image.shape == (709, 946, 3)
    assert es.blank(0, (946, 709)).image.shape == (709, 946, 3)
    assert es.glyph_crop(0, 128).image.shape == (128, 128, 3)


def test_clean_conditions_are_a_perfect_camera():
    c = es.draw_conditions(0, 640, 480, clean=True)
    assert (c.paper, c.ink, c.shadow, c.glare, c.noise, c.jpeg_quality) == ("white", "black", "none", False, 0.0, 0)
    assert c.rotation_deg == c.tilt_x_deg == c.tilt_y_deg == c.defocus_px == c.motion_px == 0.0


@pytest.mark.parametrize("size", [(1280, 960), (946, 709)])
def test_photo_box_in_middle_third_and_sized(digits, size):
    W, H = size
    for s in range(5):
        x, y, w, h = es.photo(digits[s], s, W, H).label_box
        assert W / 3 <= x + w / 2 <= 2 * W / 3 and H / 3 <= y + h / 2 <= 2 * H / 3
        assert 0.12 <= h / min(W, H) <= 0.35


def test_box_matches_the_ink_on_a_clean_render(digits):
    for s in range(4):
        smp = es.photo(digits[s], s, 640, 480, clean=True)
        rows, cols = ink_rows_cols(smp.image)
        x, y, w, h = smp.label_box
        assert abs(rows[0] - y) <= 2 and abs(rows[-1] - (y + h - 1)) <= 2
        assert abs(cols[0] - x) <= 2 and abs(cols[-1] - (x + w - 1)) <= 2


def test_box_crop_digit_is_35_to_75_percent_and_near_centre(digits):
    for s in range(8):
        smp = es.box_crop(digits[s], s, clean=True)
        S = smp.image.shape[0]
        rows, cols = ink_rows_cols(smp.image)
        assert 0.33 <= (rows[-1] - rows[0] + 1) / S <= 0.77
        assert abs((rows[0] + rows[-1]) / 2 / S - 0.5) <= 0.17
        assert abs((cols[0] + cols[-1]) / 2 / S - 0.5) <= 0.17


def test_filling_crop_ink_spans_at_least_85_percent(digits):
    for s in range(10):
        smp = es.filling_crop(digits[s], s, clean=True)
        rows, _ = ink_rows_cols(smp.image)
        assert (rows[-1] - rows[0] + 1) / smp.image.shape[0] >= 0.85


def test_number_photo_boxes_read_left_to_right_with_gaps(digits):
    for s, n in zip(range(4), (2, 3, 4, 5), strict=True):
        smp = es.number_photo(list(digits[10 : 10 + n]), s, 1280, 960, clean=True)
        boxes = np.array(smp.boxes, float)  # (n,4) x, y, w, h
        assert len(boxes) == n and smp.content == "number"
        assert np.all((boxes[:, 3] >= 0.075 * 960) & (boxes[:, 3] <= 0.21 * 960))
        gaps = boxes[1:, 0] - (boxes[:-1, 0] + boxes[:-1, 2])
        pair_h = (boxes[1:, 3] + boxes[:-1, 3]) / 2
        assert np.all(gaps / pair_h >= 0.13) and np.all(gaps / pair_h <= 0.5)
        bottoms = boxes[:, 1] + boxes[:, 3]
        assert np.ptp(bottoms) <= 0.1 * boxes[:, 3].mean()  # one baseline, jittered a few %
        mid = (boxes[:, :2].min(0) + (boxes[:, :2] + boxes[:, 2:]).max(0)) / 2
        assert np.all(np.abs(mid - (640, 480)) <= (0.07 * 1280, 0.07 * 960))  # in the middle of the frame


def test_number_photo_through_the_camera_keeps_reading_order(digits):
    for s in range(3):
        boxes = np.array(es.number_photo(list(digits[20:24]), s).boxes, float)
        assert len(boxes) == 4
        assert np.all(np.diff(boxes[:, 0] + boxes[:, 2] / 2) > 0) and np.all(np.diff(boxes[:, 0]) > 0)


def test_negatives_have_no_digit_ink_in_the_centre(digits):
    for s in range(8):
        for smp in (es.blank(s), es.blank(s, (640, 480))):
            assert smp.boxes == () and smp.content == "blank"
            assert thin_dark_fraction(smp.image) < 0.02
    assert thin_dark_fraction(es.box_crop(digits[0], 0, 240, clean=True).image) > 0.02  # the check does see ink


def test_glyphs_never_look_like_digits():
    assert not set(es.GLYPHS) & set(es.EXCLUDED_GLYPHS)
    assert set("0123456789OoIlZzSs") <= set(es.EXCLUDED_GLYPHS)
    seen = {es.glyph_crop(s, 120).content for s in range(16)}
    assert seen <= set(es.GLYPHS) and len(seen) > 5


def test_every_glyph_draws_in_every_font():
    for font in es.FONT_NAMES:
        for ch in es.GLYPHS:
            assert (es._glyph_field(ch, font, 0.05, False) > 0.5).sum() > 50, (font, ch)


def test_every_scribble_kind_draws():
    for kind in es.SCRIBBLES:
        assert (es._scribble_field(np.random.default_rng(0), kind, 0.05) > 0.5).sum() > 100, kind


def test_render_digit_height_and_pen_width(digits):
    thin = es.render_digit(digits[0], 0, 200, 4)
    thick = es.render_digit(digits[0], 0, 200, 24)
    for m in (thin, thick):
        rows = np.flatnonzero((m > 0.5).any(1))
        assert abs(rows[-1] - rows[0] + 1 - 200) <= 2
        assert m.dtype == np.float32 and 0 <= m.min() and m.max() <= 1
    assert (thick > 0.5).sum() > 3 * (thin > 0.5).sum()


def test_full_size_phone_photo(digits):
    smp = es.photo(digits[0], 1, 4032, 3024)
    assert smp.image.shape == (3024, 4032, 3) and smp.image.dtype == np.uint8
    x, y, w, h = smp.label_box
    assert 4032 / 3 <= x + w / 2 <= 2 * 4032 / 3 and 0.12 <= h / 3024 <= 0.35
