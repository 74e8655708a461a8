"""PreprocessConfig's limits, exactly at each edge: every bound accepts its edge value and refuses the value just
beyond it (written to kill the mutants `.ci/mutate.py preprocess` makes of `<`/`<=` and of the constants)."""

from __future__ import annotations

import math

import pytest

from core.errors import UserError
from core.preprocess import MAX_SIDE, PreprocessConfig

UNIT_CLOSED = ([0.0, 0.5, 1.0], [-0.01, 1.01, 1.5])  # [0, 1]
LIMITS = {  # field -> (accepted, refused); `background` decides the scale of offset and gain (see below)
    "box": ([1e-9, 0.5, 1.0, None], [0.0, -0.1, 1.0001, 1.5]),
    "live_box": ([1e-9, 1.0], [0.0, 1.5]),
    "box_px": ([None, 1, MAX_SIDE], [0, MAX_SIDE + 1]),
    "center_x": UNIT_CLOSED, "center_y": UNIT_CLOSED,
    "steps": ([(1,), (4096,), (112, 56)], [(), (0,), (4097,), (56, 5000)]),
    "find_size": ([16, 1024], [15, 1025]),
    "find_radius": ([1, 64], [0, 65]),
    "radius": ([0, 64], [-1, 65]),
    "background": (["paper", "mean"], ["", "median"]),
    "offset": ([0.0, 0.999], [-0.01, 1.0, 1.5, math.nan, math.inf]),
    "gain": ([1e-9, 0.5, 1.0], [0.0, 1.0001, 1.5, math.nan]),
    "find_offset": ([0.0, 0.999], [-0.01, 1.0, 1.5]),
    "paper_floor": UNIT_CLOSED,
    "group_gap": ([0.0, 2.0], [-0.01, 2.01, 2.5]),
    "min_height": UNIT_CLOSED, "speck": UNIT_CLOSED,
    "margin": ([0.0, 2.0], [-0.01, 2.01, 2.5]),
    "line_frac": ([1e-9, 1.0], [0.0, 1.01, 1.5]),
    "stroke": ([0.0, 20.0], [-0.01, 20.01, 20.5, math.inf]),
    "min_ink": ([0.0, 0.999], [-0.01, 1.0, 1.5]),
    "min_extent": UNIT_CLOSED, "min_part": UNIT_CLOSED,
}
MEAN = {"offset": ([0.0, 254.9], [-0.01, 255.0, 255.5]), "gain": ([1e-9, 1.0, 255.0], [0.0, 255.01, 255.5])}


@pytest.mark.parametrize("name", list(LIMITS))
def test_each_limit_holds_exactly_at_its_edge(name):
    ok, bad = LIMITS[name]
    for v in ok:
        assert getattr(PreprocessConfig(**{name: v}), name) == v
    for v in bad:
        with pytest.raises(UserError, match="preprocess config"):
            PreprocessConfig(**{name: v})


@pytest.mark.parametrize("name", list(MEAN))
def test_offset_and_gain_are_gray_levels_for_the_mean_background(name):
    ok, bad = MEAN[name]
    for v in ok:
        assert getattr(PreprocessConfig(background="mean", **{name: v}), name) == v
    for v in bad:
        with pytest.raises(UserError, match="preprocess config"):
            PreprocessConfig(background="mean", **{name: v})


def test_the_comparison_presets_are_the_documented_pipelines():
    """seed() and legacy() are what every before/after figure compares against: they must not drift."""
    s, g = PreprocessConfig.seed(), PreprocessConfig.legacy()
    assert (s.box_px, s.find, s.steps, s.background, s.radius, s.offset, s.gain, s.lines, s.drop_border_ink,
            s.min_part, s.framing, s.stroke, s.min_ink, s.min_extent) == (
        140, False, (112, 56, 28), "mean", 4, 8.0, 20.0, False, False, 0.0, False, 0.0, 0.0, 0.0)
    assert (g.box_px, g.find, g.background, g.radius, g.offset, g.gain, g.lines, g.drop_border_ink, g.min_part) == (
        140, False, "mean", 5, 14.0, 20.0, False, True, 0.2)
