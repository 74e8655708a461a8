"""The camera page's frame processor: runs on streamlit-webrtc's worker thread and calls only core.

Per frame: core.preprocess turns the target box into the model's 28x28 input (or says "no digit"), the
shipped ONNX model gives 10 probabilities, a stability filter decides what to show, and the box, the
digit and its confidence are drawn onto the frame. The page reads the latest `Reading` through a
lock-guarded holder; nothing here touches st.*. Busy frames are dropped, not queued: in async mode
streamlit-webrtc hands the callback only the newest frame that arrived while the previous one was
being processed (see streamlit_webrtc.process), so latency never builds up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

GREEN, AMBER, GRAY, WHITE = (40, 200, 90), (255, 176, 0), (170, 170, 170), (255, 255, 255)


@dataclass(frozen=True)
class Reading:
    """What the model made of one frame, plus the filter's verdict and timings."""

    digit: int | None  # this frame's argmax, None when the box holds no digit
    confidence: float  # its probability
    probs: np.ndarray | None  # (10,) probabilities
    image: np.ndarray | None  # (28,28) float32 model input
    reason: str | None  # why there is no digit, when there is none
    stable: int | None  # the digit shown: it held for `hold` frames in a row (None: nothing stable yet)
    fps: float  # frames processed per second over the last couple of seconds
    ms: float  # this callback's own processing time for the frame (preprocess + model + drawing)
    frames: int  # frames processed since the stream started
    size: tuple[int, int] = (0, 0)  # (width, height) of the frames arriving
    error: str | None = None  # a failure on the camera thread, shown by the page


def ice_servers(urls: str, username: str = "", credential: str = "") -> list[dict]:
    """Comma-separated STUN/TURN URLs -> RTCIceServer dicts (none: host candidates only, fine on a LAN)."""
    from core.errors import UserError

    found = [u.strip() for u in urls.split(",") if u.strip()]
    if any(not u.startswith(("stun:", "turn:", "turns:")) for u in found):
        raise UserError("ICE server URLs start with stun:, turn: or turns: (e.g. turn:turn.example.org:3478)")
    return [{"urls": found} | ({"username": username, "credential": credential} if username else {})] if found else []


class Stabilizer:
    """Show a digit only after it has been the confident prediction for `hold` frames in a row."""

    def __init__(self, hold: int = 3, min_confidence: float = 0.6):
        self.hold, self.min_confidence = hold, min_confidence
        self._candidate: int | None = None
        self._count = 0
        self.shown: int | None = None

    def update(self, digit: int | None, confidence: float) -> int | None:
        cand = digit if digit is not None and confidence >= self.min_confidence else None
        self._count = self._count + 1 if cand == self._candidate else 1
        self._candidate = cand
        if self._count >= self.hold:
            self.shown = cand
        return self.shown


class LiveProcessor:
    """The webrtc video_frame_callback (call the instance) and the holder the page reads from."""

    def __init__(self, model, cfg, hold: int = 3, min_confidence: float = 0.6):
        self.model = model  # core.inference.OnnxModel (onnxruntime sessions are thread-safe)
        self.cfg = cfg  # core.preprocess.PreprocessConfig; the page replaces it (one atomic assignment)
        self.stabilizer = Stabilizer(hold, min_confidence)
        self._lock = threading.Lock()
        self._latest: Reading | None = None
        self._times: deque[float] = deque(maxlen=120)
        self._frames = 0

    def reset(self) -> None:
        with self._lock:
            self._latest, self._frames = None, 0
            self._times.clear()
            self.stabilizer = Stabilizer(self.stabilizer.hold, self.stabilizer.min_confidence)

    def latest(self) -> Reading | None:
        with self._lock:
            return self._latest

    def __call__(self, frame):
        """av.VideoFrame in -> annotated av.VideoFrame out (on the webrtc worker thread)."""
        import av

        rgb = frame.to_ndarray(format="rgb24")  # (H,W,3) uint8
        out = self.process(rgb)
        return av.VideoFrame.from_ndarray(out, format="rgb24")

    def process(self, rgb: np.ndarray) -> np.ndarray:
        """Classify the target box of an (H,W,3) uint8 RGB frame; return the frame with the overlay drawn."""
        from core.preprocess import box_of, preprocess

        t0 = time.perf_counter()
        cfg = self.cfg
        try:
            res = preprocess(rgb, cfg.live())  # the box it draws, searched; the frame around it stays
            probs, digit, conf = None, None, 0.0
            if res.image is not None:
                a = self.model.answers(res.image[None])[0]
                probs, digit, conf = a.probabilities, a.digit, a.confidence
            stable = self.stabilizer.update(digit, conf)
            err = None
        except Exception as e:  # never kill the camera thread: report on the page instead
            log.exception("camera frame failed")
            res, probs, digit, conf, stable, err = None, None, None, 0.0, None, f"{type(e).__name__}: {e}"
        out = rgb.copy()
        x0, y0, b = box_of(rgb.shape[0], rgb.shape[1], cfg)
        color = GREEN if stable is not None else (AMBER if digit is not None else GRAY)
        draw_box(out, x0, y0, b, color)
        label = (f"{stable}  {conf:.0%}" if stable is not None and stable == digit else
                 f"{stable}" if stable is not None else
                 "…" if digit is not None else "no digit")
        draw_label(out, x0, y0, b, label, color)
        now = time.perf_counter()
        with self._lock:
            self._times.append(now)
            self._frames += 1
            span = self._times[-1] - self._times[0]
            fps = (len(self._times) - 1) / span if span > 0 else 0.0
            if span > 2.0:
                while len(self._times) > 2 and self._times[-1] - self._times[0] > 2.0:
                    self._times.popleft()
            self._latest = Reading(digit, conf, probs, res.image if res else None, res.reason if res else None,
                                   stable, fps, (now - t0) * 1000, self._frames,
                                   (rgb.shape[1], rgb.shape[0]), err)
        return out


def draw_box(img: np.ndarray, x0: int, y0: int, b: int, color: tuple[int, int, int], t: int = 3) -> None:
    """A t-pixel frame just outside the square box (x0, y0, b), in place."""
    h, w = img.shape[:2]
    xa, ya, xb, yb = max(x0 - t, 0), max(y0 - t, 0), min(x0 + b + t, w), min(y0 + b + t, h)
    img[ya:y0, xa:xb] = color
    img[y0 + b:yb, xa:xb] = color
    img[ya:yb, xa:x0] = color
    img[ya:yb, x0 + b:xb] = color


_FONT = None


def _font():
    global _FONT
    if _FONT is None:
        from PIL import ImageFont

        _FONT = ImageFont.load_default(size=30)
    return _FONT


def draw_label(img: np.ndarray, x0: int, y0: int, b: int, text: str, color: tuple[int, int, int]) -> None:
    """The prediction in a filled tag above the box (below it if there is no room), in place."""
    from PIL import Image, ImageDraw

    h, w = img.shape[:2]
    th = 40
    ty = y0 - 3 - th if y0 - 3 - th >= 0 else min(y0 + b + 3, h - th)
    tx, tw = max(x0 - 3, 0), min(max(b + 6, 150), w - max(x0 - 3, 0))
    if ty < 0 or tw <= 0:
        return
    patch = Image.new("RGB", (tw, th), color)
    ImageDraw.Draw(patch).text((8, 3), text, fill=WHITE if color != GRAY else (30, 30, 30), font=_font())
    img[ty:ty + th, tx:tx + tw] = np.asarray(patch)
