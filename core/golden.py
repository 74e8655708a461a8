"""Golden vectors of the camera pipeline: seeded frames, every stage core.preprocess computes, written as files.

`web/preprocess.js` (the JavaScript port) is checked against them in a real browser, stage by stage,
within GOLDEN_TOLERANCE. `python -m core golden OUT` writes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.preprocess import PreprocessConfig, framing_steps, gray_bt601, stages

GOLDEN_FORMAT = "digit-inference-engine/preprocess-golden"
GOLDEN_TOLERANCE = 1e-5  # max |JS - Python| on every float stage


def golden_cases() -> list[tuple[str, str, np.ndarray, PreprocessConfig]]:
    """(name, what it covers, frame, config) of each golden case; seeded, well under a megabyte in all."""
    from dataclasses import replace

    from core.camera_set import Style, camera_frame, camera_sample, filling_sample, negative_style, render
    from core.data import load_mnist

    mnist = load_mnist(fetch=False)
    digit = lambda i: mnist.test_images[i]  # noqa: E731
    rng = np.random.default_rng(2024)
    d = PreprocessConfig()
    seed, legacy = PreprocessConfig.seed(), PreprocessConfig.legacy()
    style = Style(pen="thin", ink="blue", ruled=True, shadow=0.35, shadow_angle=30, shadow_pos=0.3,
                  gradient=0.3, gradient_angle=200, blur=0.8, noise=4, jpeg=70)
    clean = Style(pen="thick", digit_size=0.6, gradient=0.2, blur=0.3, noise=2.0, jpeg=None)
    cam = camera_frame(digit(0), rng, width=140, height=140, box=140, style=style)  # a 7
    photo = render(digit(5), replace(style, ink="black", pen="medium", pen_width=3.0, rule_gap=0.5, grid=True,
                                     rule_strength=0.8, shadow=0.4, shadow_soft=0.3, gradient=0.1,
                                     box_centre=(0.3, 0.62), jpeg=None), rng, 150, 200, 70)  # a 1, in a 200x150 photo
    blank = camera_frame(None, rng, width=64, height=48, box=40, style=negative_style("blank", rng))
    odd = camera_sample(digit(1), rng, clean, size=37)  # a 2, made 37x53 gray below
    odd_gray = np.pad(gray_bt601(odd.astype(np.float64)).round().astype(np.uint8), ((0, 0), (8, 8)), mode="edge")
    small = camera_frame(digit(2), rng, width=75, height=72, box=70, style=replace(clean, pen="medium"))  # a 1
    filling = filling_sample(digit(6), rng, size=64)  # a 4 held close: it crosses the box's edges
    rgba = np.concatenate([camera_sample(digit(3), rng, clean, size=30) / 255.0,
                           np.linspace(0.6, 1.0, 30 * 30).reshape(30, 30, 1)], axis=2).astype(np.float32)
    u16 = (camera_sample(digit(4), rng, clean, size=33)[..., 1].astype(np.uint16) * 257 + 128).astype(np.uint16)
    return [
        ("camera_digit", "a camera-like 7 (blue pen, ruled, shadow): a 140x140 RGB box, default settings",
         cam, d),
        ("whole_photo", "a 200x150 photo, a 1 off centre, squared paper and a shadow: the find map (k=2), "
         "printed lines dropped, the crop", photo, d),
        ("live_box", "the same photo as a live frame: only its centred box (live_box) is searched", photo, d.live()),
        ("blank_page", "blank paper (64x48 RGB): no digit", blank, replace(d, steps=(32, 20))),
        ("filling_box", "a digit filling a 64 px box, crossing its edges: the crop reaches outside the frame "
         "(edge pixels repeated)", filling, replace(d, find_size=32)),
        ("blocks_first", "the same digit with steps 28 -> 24: the crop (over twice 28) is averaged in q x q blocks "
         "first, edge pixels repeated outside the frame", filling, replace(d, find_size=32, steps=(28, 24), radius=3)),
        ("odd_size_gray", "37x53 uint8 gray, steps 40 (skipped: > 37) -> 28", odd_gray,
         replace(d, steps=(40, 28), radius=3)),
        ("seed_settings", "the seed's settings (local mean, S=28, no framing, no clean-up), a 70 px box on 75x72",
         small, replace(seed, box_px=70)),
        ("legacy_settings", "the pipeline as shipped before the find step (local mean, edge clean-up), 70 px box",
         small, replace(legacy, box_px=70)),
        ("single_step", "the same frame, one bilinear step to 28 (the comparison mode), framed",
         small, replace(d, steps=(28,), single_step=True, radius=4)),
        ("rgba_float", "30x30 float32 RGBA in [0,1], alpha 0.6..1 composited over white, steps 24 -> 20",
         rgba, replace(d, steps=(24, 20), radius=3, find_radius=3, min_extent=0.0)),
        ("uint16_gray", "33x33 uint16 gray (v/257), steps 24 -> 30 (an upsampling last step)",
         u16, replace(d, steps=(24, 30), radius=3, find_radius=3)),
    ]


def write_golden(out: Path) -> Path:
    """Write every golden case's input, stages and output as raw little-endian files plus golden.json."""
    from core.storage import atomic_write_bytes, atomic_write_json, ensure_dir

    out = ensure_dir(Path(out))
    cases = []
    written: dict[bytes, str] = {}  # identical arrays share one file (e.g. a uint8 crop equal to its input)
    for name, about, frame, cfg in golden_cases():
        st = stages(frame, cfg)
        arrays: dict[str, np.ndarray] = {"input": frame}
        exact_crop = frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
        arrays["crop"] = st.crop.astype(np.uint8) if exact_crop else st.crop  # uint8 RGB crops are exact integers
        for i, d in enumerate(st.downscales):
            arrays[f"downscale_{i}"] = d
        arrays.update(gray=st.gray, background=st.background, ink=st.ink, strength=st.strength, kept=st.kept,
                      image=st.image)
        entry = {"name": name, "about": about, "config": cfg.to_dict(), "box": list(st.box), "reason": st.reason,
                 "downscales": len(st.downscales), "arrays": {}}
        if st.found is not None:  # step 3: the find map, its groups, the one chosen
            f = st.found
            arrays.update(find_gray=f.gray, find_ink=f.ink, find_lines=f.lines)
            entry["find"] = {"region": list(f.region), "k": f.k, "groups": [list(g) for g in f.groups],
                             "chosen": f.chosen}
        f = framing_steps(st.kept, cfg.stroke) if st.reason is None and cfg.framing else None
        if f is not None:  # step 8's intermediates, to locate a mismatch in a port
            arrays["patch"] = f["patch"]
            entry["framing"] = {"bbox": f["bbox"], "dilations": f["dilations"], "centre_of_mass": f["centre_of_mass"]}
        for key, a in arrays.items():
            a = np.asarray(a)
            dtype = {"u": "uint8" if a.dtype == np.uint8 else "uint16", "b": "uint8"}.get(a.dtype.kind, "float32")
            little = "<" + {"uint8": "u1", "uint16": "u2", "float32": "f4"}[dtype]
            raw = np.ascontiguousarray(a.astype(little)).tobytes()
            file = written.get(dtype.encode() + raw)
            if file is None:
                file = written[dtype.encode() + raw] = f"{name}.{key}.bin"
                atomic_write_bytes(out / file, raw)
            entry["arrays"][key] = {"file": file, "shape": list(a.shape), "dtype": dtype}
        cases.append(entry)
    manifest = {
        "format": GOLDEN_FORMAT,
        "version": 2,
        "tolerance": GOLDEN_TOLERANCE,
        "about": "core.preprocess stages per case (find: step 3's region [x0,y0,w,h], block size k, groups "
                 "[y0,y1,x0,x1,mass] on the find map in merge order, the chosen index, arrays find_gray, find_ink, "
                 "find_lines; box: step 4's crop [x0,y0,C]; framing: step 7's bbox [y0,y1,x0,x1], dilations, centre "
                 "of mass of the fitted patch P, which is array 'patch'); arrays are raw little-endian, row-major "
                 "(H,W[,C]); ink is 0/1; crop is uint8 when the input is uint8 RGB; identical arrays share a file. "
                 "Compare every float stage within tolerance.",
        "cases": cases,
    }
    return atomic_write_json(out / "golden.json", manifest)


def read_golden(path: Path) -> dict:
    """Load golden.json and its arrays: {case name: {"config", "reason", "box", "arrays": {key: ndarray}}}."""
    from core.storage import read_json

    path = Path(path)
    manifest = read_json(path / "golden.json" if path.is_dir() else path, "golden vectors")
    base = path if path.is_dir() else path.parent
    out = {}
    for case in manifest.get("cases", []):
        arrays = {}
        for key, meta in case["arrays"].items():
            dt = {"uint8": "<u1", "uint16": "<u2", "float32": "<f4"}[meta["dtype"]]
            arrays[key] = np.fromfile(base / meta["file"], dtype=dt).reshape(meta["shape"])
        out[case["name"]] = {**case, "arrays": arrays}
    return out


def golden_args(p) -> None:
    p.add_argument("out", type=Path, help="folder to write golden.json and the .bin arrays into")


def golden_main(a) -> int:
    path = write_golden(a.out)
    total = sum(f.stat().st_size for f in path.parent.iterdir() if f.name.endswith((".bin", ".json")))
    print(f"wrote {path} ({len(golden_cases())} cases, {total / 1024:.0f} KB)")
    return 0
