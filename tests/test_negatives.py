"""core/negatives: shapes, determinism, MNIST framing, thin dashes, unreadable fragments, missing fonts."""

from collections import deque

import numpy as np
import pytest

from core import negatives as ng
from core.camera_set import camera_sample
from core.errors import UserError

ALL_NAMES = ng.SOURCES


@pytest.fixture(scope="module")
def train(mnist) -> tuple[np.ndarray, np.ndarray]:
    m = mnist
    return m.train_images[:20_000], m.train_labels[:20_000]  # (20000,28,28) uint8, (20000,) uint8


@pytest.fixture(scope="module")
def per_source(train) -> dict[str, np.ndarray]:
    """12 images of every available source, drawn one source at a time."""
    rng = np.random.default_rng(0)
    out = {}
    for s in ng.available_sources():
        images, names = ng.negatives(12, rng, [s], *train)
        assert set(names) == {s}
        out[s] = images
    return out


def bbox(img: np.ndarray) -> tuple[int, int]:
    """(height, width) of the ink's bounding box."""
    rows, cols = np.flatnonzero(img.any(1)), np.flatnonzero(img.any(0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    """(row, column) in index coordinates, MNIST's convention (its digits average (14.0, 14.0))."""
    w = img.astype(np.float64)
    i = np.arange(28)
    return float((w.sum(1) * i).sum() / w.sum()), float((w.sum(0) * i).sum() / w.sum())


def test_shapes_dtypes_and_names(train):
    images, names = ng.negatives(40, np.random.default_rng(1), train_images=train[0], train_labels=train[1])
    assert images.shape == (40, 28, 28) and images.dtype == np.uint8
    assert names.shape == (40,) and names.dtype.kind == "U"
    assert set(names) <= set(ng.SOURCES)
    empty, none = ng.negatives(0, np.random.default_rng(1))
    assert empty.shape == (0, 28, 28) and none.shape == (0,)


def test_same_seed_same_images(train):
    a = ng.negatives(20, np.random.default_rng(7), train_images=train[0], train_labels=train[1])
    b = ng.negatives(20, np.random.default_rng(7), train_images=train[0], train_labels=train[1])
    c = ng.negatives(20, np.random.default_rng(8), train_images=train[0], train_labels=train[1])
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_every_source_draws_images(per_source):
    assert set(per_source) == set(ng.available_sources()) >= {"strokes", "scribble", "dash", "fragment"}
    for s, images in per_source.items():
        assert images.shape == (12, 28, 28), s
        assert (images.reshape(12, -1).max(1) == 255).all(), s  # ink in every image, full white like MNIST


def test_names_follow_requested_sources():
    images, names = ng.negatives(60, np.random.default_rng(2), ["dash", "strokes"])
    assert set(names) == {"dash", "strokes"}
    assert len(images) == 60


def test_fragment_needs_digits_and_unknown_sources_fail():
    _, names = ng.negatives(50, np.random.default_rng(3))  # no train_images: fragment is skipped
    assert "fragment" not in set(names)
    with pytest.raises(UserError, match="unknown"):
        ng.negatives(5, np.random.default_rng(3), ["strokes", "handwriting"])
    with pytest.raises(UserError, match="none of"):
        ng.negatives(5, np.random.default_rng(3), ["fragment"])


def test_no_character_readable_as_a_digit():
    assert ng.EXCLUDED == "0123456789OoDQIlijJ|!/\\()[]{}ZzSs$bGB&gq"
    assert not set(ng.FONT_CHARS) & set(ng.EXCLUDED)
    assert not set(ng.STROKE_SHAPES) & set(ng.EXCLUDED)
    assert set(ng.FONT_CHARS) >= set("AEFHKMNRTVWXYkxy+#?~")
    assert len(ng.FONT_CHARS) == 46 and len(ng.STROKE_SHAPES) >= 20
    rng = np.random.default_rng(4)
    for family in [s[5:] for s in ng.available_sources() if s.startswith("font:")]:
        for _ in range(10):
            _, ch = ng.font_negative(family, rng)
            assert ch in ng.FONT_CHARS and ch not in ng.EXCLUDED


def test_framed_like_mnist(per_source):
    for s, images in per_source.items():
        for img in images:
            h, w = bbox(img)
            assert h <= 20 and w <= 20, (s, h, w)
            cy, cx = centre_of_mass(img)
            assert abs(cy - 14) <= 1.5 and abs(cx - 14) <= 1.5, (s, cy, cx)


def test_to_mnist_frame_fits_keeps_aspect_and_small_marks():
    square = np.zeros((90, 90))
    square[10:70, 20:80] = 1.0
    assert bbox(ng.to_mnist_frame(square)) == (20, 20)
    bar = np.zeros((40, 100))
    bar[18:24, 10:90] = 1.0  # 80 x 6: a dash stays a dash
    assert bbox(ng.to_mnist_frame(bar)) == (2, 20)
    dot = np.zeros((50, 50))
    dot[20:25, 20:25] = 1.0
    assert bbox(ng.to_mnist_frame(dot)) == (20, 20)  # MNIST's rule blows a dot up...
    assert bbox(ng.to_mnist_frame(dot, min_span=50)) == (2, 2)  # ...min_span keeps it as small as it was
    assert not ng.to_mnist_frame(np.zeros((30, 30))).any()
    assert np.array_equal(ng.to_mnist_frame(square), ng.to_mnist_frame((square * 255).astype(np.uint8)))


def test_to_mnist_frame_leaves_mnist_digits_as_they_are(train):
    for d in train[0][:50]:
        out = ng.to_mnist_frame(d)
        assert np.abs(np.array(centre_of_mass(out)) - centre_of_mass(d)).max() <= 1.0
        assert np.corrcoef(out.ravel(), d.ravel())[0, 1] > 0.8


def test_dashes_stay_thin():
    rng = np.random.default_rng(5)
    seen = 0
    while seen < 25:
        img, kind = ng.dash_negative(rng)
        h, w = bbox(img)
        if kind == "dash":  # within 12 degrees of level
            assert h <= 8 and h <= 0.5 * w, (h, w)
            seen += 1
        elif kind == "line":  # never steeper than MAX_DASH_ANGLE (a steep line is a "1")
            assert h < w, (h, w)


def test_small_marks_keep_their_size():
    rng = np.random.default_rng(6)
    dots, dashes = [], []
    while len(dots) < 40 or len(dashes) < 20:
        img, kind = ng.dash_negative(rng)
        if kind == "dots":  # the size of each dot
            lab = ng._components(img > 0)
            dots += [max(bbox(lab == k)) for k in np.unique(lab[lab > 0])]
        elif kind == "dash":
            dashes.append(bbox(img)[1])
    assert np.median(dots) <= 7 and max(dots) < 20  # a dot is not blown up to a 20 px disc
    assert min(dashes) < 12 and max(dashes) == 20  # short dashes stay short, long ones fill 20 px


def test_fragments_keep_at_most_55_percent_and_never_a_one(train):
    images, labels = train
    rng = np.random.default_rng(9)
    bank = ng.digit_bank(images)
    kept, tried = [], 0
    while len(kept) < 30:
        i = int(rng.integers(len(images)))
        got = ng.fragment(images[i], rng, int(labels[i]), bank=bank)
        tried += 1
        if got is not None:
            img, frac, cut = got
            assert labels[i] != 1 and cut in ng.FRAGMENT_CUTS
            assert ng.NegativeConfig().min_kept <= frac <= 0.55
            assert max(bbox(img)) <= 20 and img.max() == 255
            kept.append(frac)
    assert tried < 600
    ones = np.flatnonzero(labels == 1)[:20]
    assert all(ng.fragment(images[i], rng, 1) is None for i in ones)


def test_fragment_refuses_loops_and_upright_strokes():
    ring = np.zeros((28, 28), np.uint8)
    ring[6:22, 6:22] = 255
    ring[9:19, 9:19] = 0
    assert ng._has_loop(ring > 127) and not ng._has_loop(np.pad(ring[:, :14] > 127, ((0, 0), (0, 14))))
    stick = np.zeros((28, 28))
    stick[4:24, 13:15] = 1.0
    assert ng._is_upright_stroke(stick) and not ng._is_upright_stroke(stick.T)


def reference_components(mask: np.ndarray, corners: bool) -> list[set[tuple[int, int]]]:
    """Connected components by breadth-first search, the plain way."""
    steps = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy or dx) and (corners or not (dy and dx))]
    seen, parts = np.zeros_like(mask), []
    for y, x in zip(*np.nonzero(mask), strict=True):
        if seen[y, x]:
            continue
        part, queue = set(), deque([(y, x)])
        seen[y, x] = True
        while queue:
            cy, cx = queue.popleft()
            part.add((cy, cx))
            for dy, dx in steps:
                ny, nx = cy + dy, cx + dx
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        parts.append(part)
    return parts


@pytest.mark.parametrize("corners", [True, False])
def test_components_match_a_plain_search(corners):
    rng = np.random.default_rng(10)
    for _ in range(20):
        mask = rng.random((17, 23)) < rng.uniform(0.2, 0.6)
        lab = ng._components(mask, corners)
        got = sorted(sorted(zip(*np.nonzero(lab == k), strict=True)) for k in np.unique(lab[lab > 0]))
        want = sorted(sorted(p) for p in reference_components(mask, corners))
        assert got == want


def test_missing_fonts_are_skipped(monkeypatch):
    files = dict(ng.FONT_FILES)
    files["DejaVu Serif"] = ("/nonexistent/DejaVuSerif.ttf",)
    files["Liberation Mono"] = ()
    monkeypatch.setattr(ng, "FONT_FILES", files)
    have = ng.available_sources(fragments=False)
    assert "font:DejaVu Serif" not in have and "font:Liberation Mono" not in have and "strokes" in have
    _, names = ng.negatives(80, np.random.default_rng(11))
    assert not {"font:DejaVu Serif", "font:Liberation Mono"} & set(names)
    with pytest.raises(UserError, match="none of"):
        ng.negatives(3, np.random.default_rng(11), ["font:DejaVu Serif"])
    with pytest.raises(UserError, match="no font files"):
        ng.font_negative("DejaVu Serif", np.random.default_rng(11))
    monkeypatch.setattr(ng, "FONT_FILES", {k: () for k in files})
    _, names = ng.negatives(20, np.random.default_rng(11))
    assert not any(n.startswith("font:") for n in names)


def test_a_glyph_the_font_lacks_is_not_drawn():
    path = next(p for p in ng.FONT_FILES["DejaVu Sans"] if ng._present([p]))
    assert ng._glyph(path, "A") is not None
    assert ng._glyph(path, "\u4e00") is None  # no CJK in DejaVu: it would draw the "missing" box, a "0"


def test_camera_renderer_takes_them_like_mnist_digits(per_source):
    rng = np.random.default_rng(12)
    for s in ("strokes", "dash"):
        photo = camera_sample(per_source[s][0], rng)
        assert photo.shape == (140, 140, 3) and photo.dtype == np.uint8
